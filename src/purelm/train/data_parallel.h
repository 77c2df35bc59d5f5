// What the training loop asks of the processes that train together: one (SingleProcess, below), or
// a mesh (dist/ implements it on MPI). Each process trains on its rows of every batch; sums over
// processes turn per-process counts, losses and squared gradient norms into the whole batch's, so
// a mesh's run matches one process to rounding.
#pragma once

#include <functional>
#include <vector>

#include "purelm/models/model.h"
#include "purelm/train/adamw.h"

namespace purelm {

class DataParallel {
 public:
  virtual ~DataParallel() = default;
  // Builds this process's part of the model from whole weights of the checkpoint's table.
  virtual Model& build(const Config& c, const std::function<Tensor(const WeightInfo&)>& source,
                       DType act) = 0;
  // The float32 parameters this process updates, in table order (decay not yet decided).
  virtual std::vector<Param> make_trainable() = 0;
  // This process's part of parameter i from its whole value (a value or moment being resumed).
  virtual Tensor local_part(size_t i, const Tensor& whole) const = 0;
  virtual Tensor rows(const Tensor& batch) const = 0;  // this process's rows of a batch
  virtual double sum(double v) const = 0;              // over the data-parallel processes
  virtual double sum_params(double v) const = 0;       // over all processes holding parameters
  virtual bool any(bool v) const = 0;                  // true on all when true on one
  virtual void finish_grads() = 0;                     // a step's backward is done
  virtual void after_step() = 0;                       // the parameters changed
  // Whole parameters (values, AdamW moments) on the leader for a checkpoint; others get none.
  virtual std::vector<Param> gather_params(const std::vector<Param>& mine) const = 0;
  virtual std::vector<Tensor> gather_moments(const std::vector<Tensor>& mine) const = 0;
  virtual bool leader() const = 0;
};

// A group of one process holding the whole model: its sums return their input, and its parts of
// anything are the whole.
class SingleProcess final : public DataParallel {
 public:
  SingleProcess() = default;
  explicit SingleProcess(Model& m) : model_(&m) {}  // trains a model built elsewhere
  Model& build(const Config& c, const std::function<Tensor(const WeightInfo&)>& source,
               DType act) override;
  std::vector<Param> make_trainable() override;
  Tensor local_part(size_t, const Tensor& whole) const override { return whole; }
  Tensor rows(const Tensor& batch) const override { return batch; }
  double sum(double v) const override { return v; }
  double sum_params(double v) const override { return v; }
  bool any(bool v) const override { return v; }
  void finish_grads() override {}
  void after_step() override {}
  std::vector<Param> gather_params(const std::vector<Param>& mine) const override { return mine; }
  std::vector<Tensor> gather_moments(const std::vector<Tensor>& mine) const override {
    return mine;
  }
  bool leader() const override { return true; }

 private:
  Model built_;
  Model* model_ = nullptr;
};

}  // namespace purelm
