// A model spread over a mesh. Each process reads from the memory-mapped checkpoint only its
// tensor-parallel slice of every weight, and with fsdp > 1 keeps only its flat shard of that slice
// (fsdp.h). The Model it exposes runs the family's forward unchanged on the local Config, and holds
// the plan of its split weights (Model::splits) through which `linear` sums the split projections
// over the TP group (ops/parallel.h).
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "purelm/dist/fsdp.h"
#include "purelm/dist/mesh.h"
#include "purelm/models/model.h"

namespace purelm::dist {

using Named = std::vector<std::pair<std::string, Tensor>>;

class MeshModel {
 public:
  MeshModel(const Mesh& mesh, const std::string& spec, DType act);  // a checkpoint folder or repo
  MeshModel(const Mesh& mesh, const Config& full, const WeightSource& source, DType act);
  MeshModel(const MeshModel&) = delete;
  MeshModel& operator=(const MeshModel&) = delete;

  Model& model() { return model_; }
  // Quantizes each TP rank's slices for inference (models/quantize.h). When every slice of the
  // input columns holds whole blocks of 32 (as for any real model), the blocks are those one
  // process quantizing the whole matrix makes. A quantized checkpoint loads quantized already.
  // Both need --fsdp 1: FSDP shards and gathers float weights.
  void quantize(DType format);
  const Config& full_config() const { return full_; }
  // Makes the weights trainable and returns what this process updates, in table order: float32
  // FSDP shards, or (fsdp 1) float32 TP slices. Refused once quantized.
  Named make_trainable();
  // After the backward of a step (all its micro-batches): sums the gradients that each TP rank
  // holds only partially (see tp_partial_grad).
  void finish_grads();
  void after_step();  // the updated parameters invalidate gathered copies
  // Every parameter's `piece(i)` (this process's part of a value, gradient or AdamW moment, shaped
  // as make_trainable's i-th tensor) made whole as `prefix + name` on the leader; the other
  // processes take part and get an empty list.
  Named gather(const std::string& prefix, const std::function<Tensor(size_t)>& piece) const;
  // This process's part of parameter i given whole (shaped as the checkpoint's table), shaped as
  // make_trainable's i-th tensor: what a resumed run loads into it.
  Tensor local_part(size_t i, const Tensor& whole) const;
  // Whether every TP rank holds all of parameter i (and, after finish_grads, its whole gradient).
  bool tp_replicated(size_t i) const;
  int64_t local_param_bytes() const;  // what this process keeps of the parameters

 private:
  const Mesh& mesh_;
  Config full_;
  std::vector<WeightInfo> table_;  // the checkpoint's shapes
  Model model_;
  std::unique_ptr<Fsdp> fsdp_;
  Named trainable_;

  void plan_splits();  // Model::splits from the weights table: which weights TP splits, and how
};

}  // namespace purelm::dist
