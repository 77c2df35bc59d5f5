#include "purelm/dist/train_mesh.h"

#include "purelm/dist/batch.h"

namespace purelm::dist {

Model& TrainMesh::build(const Config& c, const std::function<Tensor(const WeightInfo&)>& source,
                        DType act) {
  model_ = std::make_unique<MeshModel>(mesh_, c, source, act);
  return model_->model();
}

std::vector<Param> TrainMesh::make_trainable() {
  std::vector<Param> out;
  for (auto& [name, t] : model_->make_trainable()) {
    Param p{name, t};
    if (model_->tp_replicated(out.size())) p.copies = mesh_.tp().size();
    out.push_back(p);
  }
  return out;
}

Tensor TrainMesh::rows(const Tensor& batch) const { return local_rows(batch, mesh_.fsdp()); }

double TrainMesh::sum(double v) const {
  mesh_.fsdp().all_reduce_sum(&v, 1);
  return v;
}

double TrainMesh::sum_params(double v) const {
  mesh_.world().all_reduce_sum(&v, 1);
  return v;
}

bool TrainMesh::any(bool v) const {
  double n = v ? 1 : 0;
  mesh_.world().all_reduce_sum(&n, 1);
  return n > 0;
}

std::vector<Param> TrainMesh::gather_params(const std::vector<Param>& mine) const {
  std::vector<Param> out;
  for (auto& [name, t] : model_->gather("", [&](size_t i) { return mine[i].value; }))
    out.push_back({name, t});
  return out;
}

std::vector<Tensor> TrainMesh::gather_moments(const std::vector<Tensor>& mine) const {
  std::vector<Tensor> out;
  for (auto& [name, t] : model_->gather("", [&](size_t i) { return mine[i]; })) out.push_back(t);
  return out;
}

}  // namespace purelm::dist
