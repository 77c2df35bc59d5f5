// Matrix products for the ops: C[M, N] (+)= A B^T summed over an inner dimension K, where A and B
// are strided views of float32 or bfloat16 memory. Packed, register-blocked and cache-tiled, split
// over the thread pool, and chosen at run time by the CPU's instruction set (isa.h).
//
// Numerics: products and sums are float32 (bf16 elements are widened exactly), except that on a
// CPU with AVX512-BF16 pairs of bf16 products are summed by vdpbf16ps (which flushes denormals)
// when both operands are bf16, or when the caller allows `bf16_products`: then float32 operands
// are rounded to bf16 (nearest even) as they are packed, as PyTorch's bf16 autocast rounds them.
// Elsewhere `bf16_products` changes nothing. Products with at most 16 rows of A whose operands
// are both k-contiguous stream B: in float32, or with vdpbf16ps when both are bf16 (exact
// products; neither operand is rounded).
#pragma once

#include <cstdint>

#include "purelm/core/dtype.h"

namespace purelm::kernels {

// Element (i, k) of an operand is at data[i * rs + k * cs].
struct Mat {
  const void* data;
  bool bf16;  // else float32
  int64_t rs, cs;
};

// Row-major [rows, ld] memory read as (i = row, k = column), or transposed as (i = column, k =
// row).
inline Mat rows(const float* p, int64_t ld) { return {p, false, ld, 1}; }
inline Mat rows(const bf16* p, int64_t ld) { return {p, true, ld, 1}; }
inline Mat cols(const float* p, int64_t ld) { return {p, false, 1, ld}; }
inline Mat cols(const bf16* p, int64_t ld) { return {p, true, 1, ld}; }

// C[i, j] = (accumulate ? C[i, j] : 0) + sum_k A(i, k) B(j, k) for i < M, j < N, k < K, with C
// row-major at row stride ldc. C must not overlap A or B.
void gemm(int64_t M, int64_t N, int64_t K, Mat a, Mat b, float* c, int64_t ldc, bool accumulate,
          bool bf16_products = false);

// The three shapes of a linear layer, all row-major:
//   forward  y[M, N]  = x[M, K] W[N, K]^T   gemm(M, N, K, rows(x, K), rows(W, K), y, N, false)
//   input    dx[M, K] += dy[M, N] W[N, K]   gemm(M, K, N, rows(dy, N), cols(W, K), dx, K, true)
//   weight   dW[N, K] += dy[M, N]^T x[M, K] gemm(N, K, M, cols(dy, N), cols(x, K), dW, K, true)

}  // namespace purelm::kernels
