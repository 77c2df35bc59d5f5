// Small products for attention's tiles: C[M, N] (+)= A[M, K] B[K, N] with B row-major and
// contiguous along N, A at any strides. No packing of A: at tile sizes (64 x 64 x 128) gemm's
// packing costs as much as the arithmetic, while here each element of A is broadcast straight from
// memory against rows of B (on AVX2, a panel of B that many rows meet is first copied contiguous).
// float32, chosen at run time by the CPU's features (isa.h); or pairs of bf16 on AVX512-BF16.
#pragma once

#include <cstdint>

#include "purelm/core/dtype.h"

namespace purelm::kernels {

// C[i, j] = (accumulate ? C[i, j] : 0) + sum_k A(i, k) B[k * ldb + j], with A(i, k) =
// a[i * ars + k * acs], for i < M, j < N, k < K. C must not overlap A or B.
void tile_gemm(int64_t M, int64_t N, int64_t K, const float* a, int64_t ars, int64_t acs,
               const float* b, int64_t ldb, float* c, int64_t ldc, bool accumulate);
// The same with B in bf16 memory (a bf16 KV cache), widened as it is read: the same sums.
void tile_gemm(int64_t M, int64_t N, int64_t K, const float* a, int64_t ars, int64_t acs,
               const bf16* b, int64_t ldb, float* c, int64_t ldc, bool accumulate);

// dst[c * ldd + r] = src[r * lds + c] for r < rows, c < cols (no overlap): attention's operands
// and scores turned around, in 8 x 8 blocks of registers on AVX2.
void transpose(const float* src, int64_t rows, int64_t cols, int64_t lds, float* dst, int64_t ldd);

// The same product over pairs of bf16 (vdpbf16ps: exact products, float32 sums), for CPUs with
// AVX512-BF16 (has(kAvx512Bf16); elsewhere it fails). K2 pairs of 32 bits: pair p of row i of A,
// at a + (i * ars + p * acs) * 4 bytes, holds A(i, 2p) in its lower half and A(i, 2p + 1) in its
// upper; pair (p, j) of B, at b + (p * ldb + j) * 4 bytes, holds B[2p, j] and B[2p + 1, j].
void tile_gemm_pairs(int64_t M, int64_t N, int64_t K2, const void* a, int64_t ars, int64_t acs,
                     const void* b, int64_t ldb, float* c, int64_t ldc, bool accumulate);

}  // namespace purelm::kernels
