// The model's arithmetic: what turns measured times into FLOP/s and bytes/s.
//
// FLOPs count a multiply-add as 2. A token's forward pass multiplies through every weight but the
// embedding table (a lookup) plus the LM head (V x D, the same matrix when tied), so its matmul
// FLOPs are 2 x matmul_params; causal attention adds QK^T and PV over, on average, half the keys.
#pragma once

#include <cstdint>

#include "purelm/models/model.h"

namespace purelm::bench {

struct ModelSize {
  int64_t params = 0;        // every weight of the family's table
  double matmul_params = 0;  // non-embedding weights + V*D; MoE experts at the routed share k/E
};
ModelSize model_size(const Config& c);

// Causal attention's forward over T tokens from an empty cache: 2 * 2 * T^2 / 2 * N * H * L.
double attention_flops(const Config& c, int64_t T);

// One sequence of T tokens, forward with logits at every position:
// 2 * matmul_params * T + attention_flops(T).
double forward_flops(const Config& c, int64_t T);

// A prompt of T tokens as generation prefills it: every position through the layers, the LM head
// at the last only: forward_flops(T) - 2 * D * V * (T - 1).
double prefill_flops(const Config& c, int64_t T);

// A training step on B sequences of T tokens: 3 x forward (the backward pass costs twice the
// forward), i.e. 6 * matmul_params per token + 3 x attention. Recomputation is not counted:
// neither attention's scores in the backward nor the layers re-run under --recompute.
double train_flops(const Config& c, int64_t B, int64_t T);

// Bytes of weights one decode step of B rows reads: every weight once, but the embedding table
// only at the B rows looked up unless it doubles as the LM head, and MoE experts at the share
// that B * k uniform routings are expected to hit.
double decode_weight_bytes(const Model& m, int64_t B);

// Bytes attention reads per cached position: keys and values of every layer.
double kv_bytes_per_position(const Config& c, DType kv_dtype);

}  // namespace purelm::bench
