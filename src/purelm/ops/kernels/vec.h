// Vector primitives under the ops. Each is compiled for AVX-512, AVX2 and baseline x86-64 and
// chosen at run time by the CPU's features (GCC function multi-versioning); all variants do the
// same float operations in the same order, so they give identical results.
#pragma once

#include <cstdint>

namespace purelm::kernels {

float dot(const float* a, const float* b, int64_t n);
void axpy(float a, const float* x, float* y, int64_t n);  // y += a * x

// y[M, N] = x[M, K] W[N, K]^T, W given as float32 rows; parallel over N.
void matmul_nt(const float* x, const float* w, float* y, int64_t M, int64_t N, int64_t K);

}  // namespace purelm::kernels
