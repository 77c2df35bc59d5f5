// Vector primitives under the ops. Each is compiled for AVX-512, AVX2 and baseline x86-64 and
// chosen at run time by the CPU's features (GCC function multi-versioning); all variants do the
// same float operations in the same order, so they give identical results.
#pragma once

#include <cstdint>

namespace purelm::kernels {

float dot(const float* a, const float* b, int64_t n);
void axpy(float a, const float* x, float* y, int64_t n);  // y += a * x

}  // namespace purelm::kernels
