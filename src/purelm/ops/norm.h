// RMSNorm over the last axis: y = x / sqrt(mean(x^2) + eps) * w, statistics in float32.
#pragma once

#include "purelm/core/tensor.h"

namespace purelm {

Tensor rmsnorm(const Tensor& x, const Tensor& w, float eps);

}  // namespace purelm
