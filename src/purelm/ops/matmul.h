// Linear layers: y = x W^T with W stored [out, in] as HuggingFace does.
#pragma once

#include "purelm/core/tensor.h"
#include "purelm/ops/parallel.h"

namespace purelm {

// x [..., in] (F32 or BF16 activations), W [out, in] (F32, BF16 or F16; or Q8/Q4 for inference)
// -> [..., out] in x's dtype. A split W (ops/parallel.h) gives this process's part of y.
Tensor linear(const Tensor& x, const Weight& w);

// Products of up to this many rows (float weights) stream W and sum each row in one order, the
// same for any number of rows; past it a packed GEMM sums in another, so a row's result can
// differ in the last bits between a product of few rows and one of many. A server that decodes
// at most this many rows per forward gives each request the same logits whatever else runs.
constexpr int64_t kRowInvariantRows = 16;

// linear() whole on every process even when W's rows are split over a group (an output head's
// vocabulary: ops/parallel.h): the slices of y are gathered, and the backward pass takes this
// process's columns of the gradient.
Tensor linear_whole(const Tensor& x, const Weight& w);

}  // namespace purelm
