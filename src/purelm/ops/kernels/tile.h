// Small products for attention's tiles: C[M, N] (+)= A[M, K] B[K, N] with B row-major and
// contiguous along N, A at any strides. No packing: at tile sizes (64 x 64 x 128) gemm's packing
// costs as much as the arithmetic, while here each element of A is broadcast straight from memory
// against whole rows of B. float32 throughout; chosen at run time by isa().
#pragma once

#include <cstdint>

namespace purelm::kernels {

// C[i, j] = (accumulate ? C[i, j] : 0) + sum_k A(i, k) B[k * ldb + j], with A(i, k) =
// a[i * ars + k * acs], for i < M, j < N, k < K. C must not overlap A or B.
void tile_gemm(int64_t M, int64_t N, int64_t K, const float* a, int64_t ars, int64_t acs,
               const float* b, int64_t ldb, float* c, int64_t ldc, bool accumulate);

}  // namespace purelm::kernels
