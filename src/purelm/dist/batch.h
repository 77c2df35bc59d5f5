// Data parallelism over the fsdp axis: each FSDP rank takes an equal share of a batch's rows, and
// losses are weighted by target counts, so the mesh computes the mean over the whole batch as one
// process would (the backward of each rank is seeded with its share of the targets).
#pragma once

#include "purelm/core/tensor.h"
#include "purelm/dist/mesh.h"

namespace purelm::dist {

// Rows [r B/P, (r+1) B/P) of a batch [B, ...] for rank r of P. Throws when P does not divide B.
Tensor local_rows(const Tensor& batch, const Group& fsdp);
// The inverse for float32 results: every rank's rows, in rank order, on rank 0 (others: empty).
Tensor gather_rows(const Tensor& mine, const Group& fsdp);

struct TargetShare {
  int64_t local = 0, total = 0;  // counted targets (>= 0) here and over the group
  double weight() const { return total ? double(local) / double(total) : 0.0; }
};
TargetShare share_targets(const Tensor& targets, const Group& fsdp);
// The group's mean loss from each rank's mean over its own targets.
double global_mean(double local_mean, const TargetShare& s, const Group& fsdp);

}  // namespace purelm::dist
