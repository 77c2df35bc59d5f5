// Cross-entropy fused with the output projection: logits are made a block of the vocabulary at a
// time for all rows (an online logsumexp joins the blocks), so the full [rows, V] matrix never
// exists, W is read once per pass by tall products, and the backward pass recomputes each block.
#pragma once

#include "purelm/core/tensor.h"
#include "purelm/ops/parallel.h"

namespace purelm {

// h [M, D] (final hidden states), W [V, D] (lm_head or tied embedding), targets I32 [M] with -1
// for positions that do not count. Returns the mean over counted positions, F32 [1]. `block`: the
// vocabulary rows per product (0: about 16 MB of logits), given by tests to cross block edges.
Tensor cross_entropy_head(const Tensor& h, const Weight& w, const Tensor& targets,
                          int64_t block = 0);

}  // namespace purelm
