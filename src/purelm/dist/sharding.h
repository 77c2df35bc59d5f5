// How a weights table maps onto the mesh. One mapping turns logical axes (WeightInfo::axes) into
// mesh axes; from it follow the Config each tensor-parallel rank runs, which slice of each weight
// it reads, and how `linear` combines the slices. (FSDP shards every parameter flat, whatever its
// axes: see fsdp.h.)
#pragma once

#include "purelm/models/model.h"
#include "purelm/ops/parallel.h"

namespace purelm::dist {

// The dimension of `w` that tensor parallelism splits, or -1 when every TP rank holds all of it.
int tp_dim(const WeightInfo& w);

// The config a TP rank runs: N/tp query heads, K/tp kv heads, F/tp MLP width. The family's
// forward then runs unchanged on its slices. Throws naming the sizes when tp does not divide them
// (or the vocabulary, which stays whole in the config: the ops see token ids of all of it).
Config local_config(const Config& full, int tp);

// The weights table of one TP rank's slices.
std::vector<WeightInfo> local_table(std::vector<WeightInfo> table, int tp);

// How the ops combine the slices of a split weight (none for a weight TP does not split): `linear`
// for a projection, `rmsnorm` for a norm over all heads (OLMo 2's q/k norms).
std::optional<Split> tp_split(const WeightInfo& w);

// Whether a weight TP does not split is still read inside the split region: one shared by all
// heads (Qwen3's per-head q/k norms) sees only this rank's heads, so its gradient is a partial
// sum over the TP group.
bool tp_partial_grad(const WeightInfo& w);

// This rank's slice of a stored weight along `dim`: a view of the memory map for rows (nothing is
// read until used), a copy for columns (of a quantized matrix, whole blocks of them). dim -1: the
// whole tensor.
Tensor tp_slice(const Tensor& full, int dim, int rank, int size);

// Puts the slices of all TP ranks (in rank order, each flat float32) back into one tensor.
Tensor tp_unslice(const std::vector<float>& slices, const Shape& full_shape, int dim, int size);

}  // namespace purelm::dist
