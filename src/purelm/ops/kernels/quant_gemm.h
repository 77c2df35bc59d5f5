// Products with a block-quantized weight (core/quant.h): C[M, N] = A[M, K] W[N, K]^T, the linear
// layer's forward, with A float32 row-major and W stored Q8 or Q4 row by row.
//
// With at most kStreamRows rows of A (decode, small batches) W is streamed once, each block decoded
// in registers (AVX-512) or into a row buffer (the portable kernel), chosen by isa(), for groups of
// kGemvRows rows of A at a time. More rows (prefill) decode
// W a panel of rows at a time into float32 and hand it to gemm(). The decoded values are exact
// float32 (d * q), so both paths sum the same products as a float32 product with the decoded W.
#pragma once

#include <cstdint>

#include "purelm/core/dtype.h"

namespace purelm::kernels {

// Row j of W starts at data + j * row_bytes.
struct QMat {
  const void* data;
  DType type;  // Q8 or Q4
  int64_t row_bytes;
};

// C row-major at row stride ldc, overwritten. `bf16_products` as for gemm() (prefill only).
void gemm_quant(int64_t M, int64_t N, int64_t K, const float* a, int64_t lda, const QMat& w,
                float* c, int64_t ldc, bool bf16_products = false);

// The decode kernel's contract: C[0:M, n0:n1] for M <= kGemvRows, A zero-padded to whole blocks
// (row stride lda, at least blocks(K) * 32).
using QGemv = void (*)(int M, int64_t n0, int64_t n1, int64_t K, const float* a, int64_t lda,
                       const QMat& w, float* c, int64_t ldc);

}  // namespace purelm::kernels
