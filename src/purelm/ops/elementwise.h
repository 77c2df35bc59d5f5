// Elementwise ops and reshapes, each with its backward.
#pragma once

#include "purelm/core/tensor.h"

namespace purelm {

Tensor add(const Tensor& a, const Tensor& b);         // same shapes
Tensor swiglu(const Tensor& gate, const Tensor& up);  // silu(gate) * up, silu(z) = z * sigmoid(z)
Tensor scale_rows(const Tensor& x, const Tensor& s);  // x [R, C] * s [R] per row
Tensor reshape(const Tensor& x, const Shape& shape);  // same storage, gradient flows through

}  // namespace purelm
