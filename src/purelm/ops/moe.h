// Mixture-of-experts routing: softmax over all experts, the k most probable chosen (optionally
// renormalised), tokens gathered per expert and the weighted expert outputs combined back.
#pragma once

#include <vector>

#include "purelm/core/tensor.h"

namespace purelm {

struct Routing {
  Tensor weights;                // [M, k] float32: the chosen experts' weights (differentiable)
  std::vector<int32_t> experts;  // [M * k]: the chosen experts, most probable first
};

// router_logits [M, E] -> top-k of softmax(router_logits); ties go to the lower expert index.
Routing route_topk(const Tensor& router_logits, int64_t k, bool renormalise);

// For expert e: the tokens routed to it and the slots (m * k + j) that hold their weights.
struct ExpertBatch {
  std::vector<int32_t> tokens, slots;
};
std::vector<ExpertBatch> group_by_expert(const Routing& r, int64_t num_experts);

Tensor gather_rows(const Tensor& x, const std::vector<int32_t>& rows);  // x [M, C] -> [n, C]
// out [M, C] = sum over parts p of parts[p] scattered to rows[p]; every part is [len(rows[p]), C].
Tensor combine_rows(const std::vector<Tensor>& parts, const std::vector<std::vector<int32_t>>& rows,
                    int64_t M, DType dtype);

}  // namespace purelm
