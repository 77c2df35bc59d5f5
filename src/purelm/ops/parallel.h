// Tensor parallelism inside the ops (Megatron's f and g operators). A model split over a mesh
// (dist/) keeps its plan, how each split weight is cut, on the Model (models/model.h: splits,
// place); the ops read it from the Weight they are given. This interface has no MPI in it.
//   Split::Out  W's output rows are split (q/k/v/gate/up): each process computes its slice of y;
//               its input gradient is a partial sum, summed over the group in the backward
//               (once for all the projections of one input: ops/autograd.h). A
//               split 1-D weight is an RMSNorm's over a split axis (OLMo 2's q/k norms): the
//               norm's statistics are summed over the group (ops/norm.h). The vocabulary rows of
//               an embedding or output head (Megatron's vocabulary-parallel layers): `embedding`
//               looks up the ids it holds and sums over the group, `cross_entropy_head` joins the
//               per-process logsumexps, `linear_whole` gathers the logits.
//   Split::In   W's input columns are split (o_proj/down): each y is a partial sum, summed over
//               the group in the forward; the backward needs nothing.
#pragma once

#include <cstdint>

#include "purelm/core/tensor.h"

namespace purelm {

enum class Split { Out, In };

// Sums `n` floats in place over a group of processes (an all-reduce).
struct GroupSum {
  void (*sum)(void* group, float* data, int64_t n);
  void* group;
  void operator()(float* data, int64_t n) const { sum(group, data, n); }
};

// Every process gives `n` floats; `out` gets the group's size times n, in process order.
struct GroupGather {
  void (*gather)(void* group, const float* in, float* out, int64_t n);
  void* group;
  void operator()(const float* in, float* out, int64_t n) const { gather(group, in, out, n); }
};

struct SplitMark {
  Split split;
  GroupSum over;
  GroupGather all = {};
  int rank = 0, size = 1;  // this process's slice of the split axis, of `size` equal ones
};

// A weight as the ops read it: the tensor, and when this process holds one slice of a layer split
// over a group, how it is split (`split` points into the model's plan). A plain Tensor is a weight
// held whole.
struct Weight : Tensor {
  Weight(const Tensor& t = {}, const SplitMark* split = nullptr) : Tensor(t), split(split) {}
  const SplitMark* split;
};

// Where this process's part sits in the whole computation, so that randomness keyed by position
// (attention dropout) draws what one process running all of it would: its batch rows are block
// `row_block` of equal blocks, its attention heads block `head_block` of `head_blocks`.
struct ShardPlace {
  int64_t row_block = 0, head_block = 0, head_blocks = 1;
};

}  // namespace purelm
