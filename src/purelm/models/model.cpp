#include "purelm/models/model.h"

#include <cstring>

#include "purelm/io/hf_folder.h"
#include "purelm/io/safetensors.h"
#include "purelm/models/quantize.h"
#include "purelm/ops/autograd.h"
#include "purelm/ops/matmul.h"
#include "purelm/ops/rope.h"
#include "purelm/ops/rows.h"

namespace purelm {

Weight Model::w(const std::string& name) const {
  if (on_use) on_use(name);
  auto it = weights.find(name);
  check(it != weights.end(), "model has no weight '", name, "'");
  if (splits.empty()) return {it->second, nullptr};  // held whole: no name to hash again
  auto split = splits.find(name);
  return {it->second, split == splits.end() ? nullptr : &split->second};
}

Weight Model::layer(int64_t l, const char* name) const {
  return w("model.layers." + std::to_string(l) + "." + name);
}

Weight Model::output_weight() const {
  return w(weights.contains("lm_head.weight") ? "lm_head.weight" : "model.embed_tokens.weight");
}

Tensor Model::hidden(const Tensor& ids, KVCache* kv) const {
  return family->forward(*this, ids, kv);
}

Tensor Model::logits(const Tensor& ids, KVCache* kv) const {
  return linear_whole(hidden(ids, kv), output_weight());
}

Tensor Model::block(const Tensor& x, std::function<Tensor(Tensor)> body) const {
  return recompute ? checkpoint(x, std::move(body)) : body(x);
}

Model make_model(const Config& c, std::unordered_map<std::string, Tensor> weights, DType act) {
  return make_model(c, std::move(weights), act, weight_table(c));
}

Model make_model(const Config& c, std::unordered_map<std::string, Tensor> weights, DType act,
                 const std::vector<WeightInfo>& table) {
  check(act == DType::F32 || act == DType::BF16, "activations compute in f32 or bf16");
  Model m;
  m.config = c;
  m.family = &family_for(c.model_type);
  m.act = act;
  for (const WeightInfo& info : table) {
    auto it = weights.find(info.name);
    check(it != weights.end(), "checkpoint is missing weight '", info.name, "' (", c.model_type,
          " expects shape ", info.shape, ")");
    check(it->second.shape() == info.shape, "weight '", info.name, "' has shape ",
          it->second.shape(), " but config.json implies ", info.shape);
    check(is_float(it->second.dtype()) ||
              (is_quantized(it->second.dtype()) && info.shape.size() == 2),
          "weight '", info.name, "' has dtype ", dtype_name(it->second.dtype()),
          "; weights must be F32, BF16 or F16 (matrices also Q8 or Q4)");
    m.weights[info.name] = it->second;
  }
  m.rope_inv_freq = rope_inv_freq(c.head_dim, c.rope_theta);
  if (c.rope_scaling) {
    const RopeScaling& s = *c.rope_scaling;
    rope_llama3_scale(m.rope_inv_freq, s.factor, s.low_freq_factor, s.high_freq_factor,
                      double(s.original_max_position_embeddings));
  }
  return m;
}

WeightSource checkpoint_weights(const std::string& dir) {
  return [store = TensorStore::open_dir(dir),
          c = load_config(dir + "/config.json")](const WeightInfo& w) {
    Tensor t = store.get(w.name);
    if (t.dtype() == DType::U8) t = stored_quantized(t, w, c);
    check(t.shape() == w.shape, "weight '", w.name, "' has shape ", t.shape(),
          " but config.json implies ", w.shape);
    return t;
  };
}

Model load_model(const std::string& spec, DType act) {
  std::string dir = resolve_model_dir(spec);
  Config c = load_config(dir + "/config.json");
  TensorStore store = TensorStore::open_dir(dir);
  auto get = [&](const WeightInfo& info) {
    Tensor t = store.get(info.name);
    return t.dtype() == DType::U8 ? stored_quantized(t, info, c) : t;
  };
  std::unordered_map<std::string, Tensor> weights;
  for (const WeightInfo& info : weight_table(c))
    if (store.contains(info.name)) weights[info.name] = get(info);
  Model m = make_model(c, std::move(weights), act);
  m.dir = dir;
  return m;
}

}  // namespace purelm
