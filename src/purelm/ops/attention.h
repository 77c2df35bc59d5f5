// Causal grouped-query attention, flash-style: scores are computed a block of keys at a time with
// an online softmax, so no T x S matrix is ever held; the backward pass recomputes them from the
// saved log-sum-exp of each query.
#pragma once

#include <vector>

#include "purelm/core/tensor.h"
#include "purelm/ops/parallel.h"

namespace purelm {

// Attention dropout's probability, and where this process's part sits in the whole computation
// (ops/parallel.h), so that a mesh drops what one process would.
struct AttentionDropout {
  AttentionDropout(double p = 0, ShardPlace at = {}) : p(p), at(at) {}
  double p;
  ShardPlace at;
};

// q [B, T, N, H]; k, v [B, S, K, H] with N % K == 0 (query head n reads kv head n / (N / K)).
// Row b's query t sits at position pos0[b] + t and sees keys 0 ..= that position (< S).
// Returns [B, T, N, H] in q's dtype. Scale 1 / sqrt(H). `dropout` drops attention weights with
// that probability while training (a tape records and an input needs a gradient), never otherwise.
// With kv_rows, row b reads row kv_rows[b] of k and v (distinct rows; k may have more than B: the
// slots of a KV cache of which a forward runs only some).
Tensor attention(const Tensor& q, const Tensor& k, const Tensor& v,
                 const std::vector<int64_t>& pos0, const AttentionDropout& dropout = {},
                 const std::vector<int64_t>& kv_rows = {});

}  // namespace purelm
