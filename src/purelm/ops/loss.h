// Cross-entropy fused with the output projection: logits are made a chunk of rows at a time, so the
// full [rows, V] matrix never exists, and the backward pass recomputes each chunk.
#pragma once

#include "purelm/core/tensor.h"

namespace purelm {

// h [M, D] (final hidden states), W [V, D] (lm_head or tied embedding), targets I32 [M] with -1
// for positions that do not count. Returns the mean over counted positions, F32 [1].
Tensor cross_entropy_head(const Tensor& h, const Tensor& w, const Tensor& targets);

}  // namespace purelm
