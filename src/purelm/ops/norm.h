// RMSNorm over the last axis: y = x / sqrt(mean(x^2) + eps) * w, statistics in float32. When w is
// split over a group of processes (ops/parallel.h), x and w hold this process's part of
// the normalised axis: the mean of squares, and in the backward the sum of dy * w * x, are taken
// over the whole axis through the mark's group sum (OLMo 2's q/k norms under tensor parallelism).
#pragma once

#include "purelm/core/tensor.h"
#include "purelm/ops/parallel.h"

namespace purelm {

Tensor rmsnorm(const Tensor& x, const Weight& w, float eps);

}  // namespace purelm
