// The training loop's view of a mesh (train/data_parallel.h): an FSDP-sharded MeshModel.
#pragma once

#include <memory>

#include "purelm/dist/mesh_model.h"
#include "purelm/train/data_parallel.h"

namespace purelm::dist {

class TrainMesh : public DataParallel {
 public:
  explicit TrainMesh(const Mesh& mesh);  // refuses tp > 1 (training shards over FSDP only)
  Model& build(const Config& c, const std::function<Tensor(const WeightInfo&)>& source,
               DType act) override;
  std::vector<Param> make_trainable() override;
  Tensor rows(const Tensor& batch) const override;
  double sum(double v) const override;
  void after_step() override { model_->after_step(); }
  std::vector<Param> gather_params(const std::vector<Param>& mine) const override;
  std::vector<Tensor> gather_moments(const std::vector<Tensor>& mine) const override;
  bool leader() const override { return mesh_.leader(); }

 private:
  const Mesh& mesh_;
  std::unique_ptr<MeshModel> model_;
};

}  // namespace purelm::dist
