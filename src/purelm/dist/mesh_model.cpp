#include "purelm/dist/mesh_model.h"

#include "purelm/dist/sharding.h"
#include "purelm/io/hf_folder.h"
#include "purelm/models/quantize.h"

namespace purelm::dist {

namespace {

void sum_over(void* group, float* data, int64_t n) {
  static_cast<const Group*>(group)->all_reduce_sum(data, n);
}

void gather_over(void* group, const float* in, float* out, int64_t n) {
  static_cast<const Group*>(group)->all_gather(in, out, n);
}

void refuse_fsdp(const Mesh& mesh) {
  check(mesh.fsdp().size() == 1,
        "quantized weights run with tensor parallelism only (--fsdp 1): "
        "FSDP shards and gathers float weights");
}

}  // namespace

MeshModel::MeshModel(const Mesh& mesh, const std::string& spec, DType act)
    : MeshModel(mesh, load_config(resolve_model_dir(spec) + "/config.json"),
                checkpoint_weights(resolve_model_dir(spec)), act) {
  model_.dir = resolve_model_dir(spec);
}

MeshModel::MeshModel(const Mesh& mesh, const Config& full, const WeightSource& source, DType act)
    : mesh_(mesh), full_(full), table_(weight_table(full)) {
  if (full.quant) refuse_fsdp(mesh);
  Config local = local_config(full_, mesh.tp().size());
  auto slice = [&](const WeightInfo& w) {
    return tp_slice(source(w), tp_dim(w), mesh.tp().rank(), mesh.tp().size());
  };
  const std::vector<WeightInfo> slices = local_table(table_, mesh.tp().size());
  if (mesh.fsdp().size() > 1)
    fsdp_ = std::make_unique<Fsdp>(mesh.fsdp(), slices, [&](size_t i) { return slice(table_[i]); });
  std::unordered_map<std::string, Tensor> weights;  // FSDP: the full buffers, not yet gathered
  for (size_t i = 0; i < table_.size(); ++i)
    weights[table_[i].name] = fsdp_ ? fsdp_->full_tensor(i) : slice(table_[i]);
  model_ = make_model(local, std::move(weights), act, slices);
  if (fsdp_) fsdp_->attach(model_);
  model_.place = {mesh.fsdp().rank(), mesh.tp().rank(), mesh.tp().size()};
  plan_splits();
}

void MeshModel::quantize(DType format) {
  refuse_fsdp(mesh_);
  quantize_model(model_, format);
  plan_splits();  // the table changed: a tied model's quantized head is a weight of its own
}

void MeshModel::plan_splits() {
  model_.splits.clear();
  if (mesh_.tp().size() == 1) return;
  void* tp = const_cast<Group*>(&mesh_.tp());
  for (const WeightInfo& w : weight_table(model_.config))  // the local one: its axes, not shapes
    if (std::optional<Split> s = tp_split(w))
      model_.splits[w.name] = {
          *s, {sum_over, tp}, {gather_over, tp}, mesh_.tp().rank(), mesh_.tp().size()};
}

Named MeshModel::make_trainable() {
  check(!model_.config.quant, "the weights are quantized: quantized models are for inference only");
  if (fsdp_) {
    fsdp_->set_trainable();
    fsdp_->attach(model_);
    trainable_ = fsdp_->shards();
    return trainable_;
  }
  trainable_.clear();  // a second call (e.g. each of bench's training runs) starts afresh
  for (const WeightInfo& w : table_) {
    Tensor& t = model_.weights.at(w.name);
    t = t.to(DType::F32);
    t.set_requires_grad(true);
    trainable_.push_back({w.name, t});
  }
  return trainable_;
}

void MeshModel::finish_grads() {
  for (size_t i = 0; i < table_.size(); ++i) {
    if (!tp_partial_grad(table_[i]) || mesh_.tp().size() == 1) continue;
    const Tensor& t = trainable_.at(i).second;
    mesh_.tp().all_reduce_sum(t.ensure_grad().data<float>(), t.numel());
  }
}

void MeshModel::after_step() {
  if (fsdp_) fsdp_->invalidate();
}

Tensor MeshModel::local_part(size_t i, const Tensor& whole) const {
  const WeightInfo& w = table_[i];
  check(whole.shape() == w.shape, "'", w.name, "' has shape ", whole.shape(),
        " but the model's table implies ", w.shape);
  Tensor mine = tp_slice(whole, tp_dim(w), mesh_.tp().rank(), mesh_.tp().size());
  return fsdp_ ? fsdp_->shard_of(i, mine) : mine;
}

bool MeshModel::tp_replicated(size_t i) const {
  return mesh_.tp().size() > 1 && tp_dim(table_[i]) < 0;
}

Named MeshModel::gather(const std::string& prefix,
                        const std::function<Tensor(size_t)>& piece) const {
  Named out;
  const Group& tp = mesh_.tp();
  for (size_t i = 0; i < table_.size(); ++i) {
    Tensor mine = piece(i);  // every FSDP rank takes part in the unshard
    if (fsdp_) mine = fsdp_->unshard(i, mine);
    if (mesh_.fsdp().rank() != 0) continue;
    mine = mine.to(DType::F32);
    int dim = tp_dim(table_[i]);
    if (dim < 0 || tp.size() == 1) {
      if (mesh_.leader()) out.push_back({prefix + table_[i].name, mine});
      continue;
    }
    std::vector<float> all(tp.rank() == 0 ? size_t(mine.numel() * tp.size()) : 0);
    tp.gather(mine.data<float>(), all.data(), mine.numel());
    if (mesh_.leader())
      out.push_back({prefix + table_[i].name, tp_unslice(all, table_[i].shape, dim, tp.size())});
  }
  return out;
}

int64_t MeshModel::local_param_bytes() const {
  if (fsdp_) return fsdp_->shard_bytes();
  int64_t n = 0;
  for (const auto& [name, t] : model_.weights) n += int64_t(t.nbytes());
  return n;
}

}  // namespace purelm::dist
