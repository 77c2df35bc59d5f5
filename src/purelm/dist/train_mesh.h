// The training loop's view of a mesh (train/data_parallel.h): a MeshModel, tensor parallel and/or
// FSDP-sharded. Batches are split over the fsdp axis; the TP ranks of a group see the same rows.
#pragma once

#include <memory>

#include "purelm/dist/mesh_model.h"
#include "purelm/train/data_parallel.h"

namespace purelm::dist {

class TrainMesh : public DataParallel {
 public:
  explicit TrainMesh(const Mesh& mesh) : mesh_(mesh) {}
  Model& build(const Config& c, const std::function<Tensor(const WeightInfo&)>& source,
               DType act) override;
  std::vector<Param> make_trainable() override;
  Tensor local_part(size_t i, const Tensor& whole) const override {
    return model_->local_part(i, whole);
  }
  Tensor rows(const Tensor& batch) const override;
  double sum(double v) const override;
  double sum_params(double v) const override;
  bool any(bool v) const override;
  void finish_grads() override { model_->finish_grads(); }
  void after_step() override { model_->after_step(); }
  std::vector<Param> gather_params(const std::vector<Param>& mine) const override;
  std::vector<Tensor> gather_moments(const std::vector<Tensor>& mine) const override;
  bool leader() const override { return mesh_.leader(); }
  MeshModel& mesh_model() { return *model_; }  // after build

 private:
  const Mesh& mesh_;
  std::unique_ptr<MeshModel> model_;
};

}  // namespace purelm::dist
