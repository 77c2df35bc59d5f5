// Products with a block-quantized weight (core/quant.h): C[M, N] = A[M, K] W[N, K]^T, the linear
// layer's forward, with A float32 row-major and W stored Q8 or Q4 row by row.
//
// A is first rounded to int8 blocks (quant::quantize_activations), on every path, so that a
// product does not depend on how many rows it has: C = A' W' with A' = d_A * q_A and W' the
// decoded W. With at most kStreamRows rows of A (decode, small batches; 64 for the integer kernels)
// W is streamed once, for groups of kGemvRows rows of A at a time, by the kernel the CPU's features
// pick: integer products of the codes (AVX512-VNNI, or AVX2 with or without AVX-VNNI), each block
// decoded to float32 in registers (AVX-512 without VNNI), or into a row buffer (the portable
// kernel). More rows (prefill) decode W a panel of rows at a time into float32 and hand it and A'
// to gemm(). A' and W' are exact in float32 and the integer sums are exact, so every path sums the
// same products up to float32 rounding.
#pragma once

#include <cstdint>
#include <vector>

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

// The float32 decode kernels' contract: C[0:M, n0:n1] for M <= kGemvRows, A' zero-padded to whole
// blocks (row stride lda, at least blocks(K) * 32).
using QGemv = void (*)(int M, int64_t n0, int64_t n1, int64_t K, const float* a, int64_t lda,
                       const QMat& w, float* c, int64_t ldc);

// A's rows for the integer kernels (qgemv_vnni.cpp describes the layout): the int8 codes of
// quant::quantize_activations (M rows of blocks(K) blocks, q and d) regrouped into the steps of W's
// format for vectors of `lanes` int32 sums (16 on AVX-512, 8 on AVX2), a whole step being the
// blocks of one vector of codes (Q4: two, the low nibbles and the high ones), with each step's
// scales and offsets spread over its lanes.
class QActs {
 public:
  QActs(DType t, int lanes, int64_t M, int64_t K, const int8_t* q, const float* d);

  int64_t steps;  // per row: whole_steps() of whole_ blocks, then one per remaining block

  int64_t whole_steps() const { return full(); }
  int64_t first_block(int64_t st) const {
    return st < full() ? st * whole_ : st + full() * (whole_ - 1);
  }
  int step_size(int64_t st) const { return st < full() ? int(whole_) : 1; }
  const int8_t* codes_of(int64_t i, int64_t st) const { return codes_.data() + code_at(i, st); }
  const float* scales_of(int64_t i, int64_t st) const { return scales_.data() + lane_at(i, st); }
  const int32_t* offsets_of(int64_t i, int64_t st) const {
    return offsets_.data() + lane_at(i, st);
  }

 private:
  int64_t full() const { return nb_ / whole_; }
  int64_t code_at(int64_t i, int64_t st) const { return (i * nb_ + first_block(st)) * 32; }
  int64_t lane_at(int64_t i, int64_t st) const { return (i * steps + st) * lanes_; }

  int64_t lanes_, whole_, nb_;  // lanes per step; blocks per whole step; blocks per row
  std::vector<int8_t> codes_;
  std::vector<float> scales_;
  std::vector<int32_t> offsets_;
};

// The decode kernel on A's integer codes (AVX512-VNNI), C[0:M, n0:n1] from rows i0.. of `a` (of
// 16 lanes).
void qgemv_vnni(int M, int64_t n0, int64_t n1, const QActs& a, int64_t i0, const QMat& w, float* c,
                int64_t ldc);

// The same on AVX2 (and on AVX-VNNI, with vpdpbusd on ymm), `a` of 8 lanes.
void qgemv_avx2(int M, int64_t n0, int64_t n1, const QActs& a, int64_t i0, const QMat& w, float* c,
                int64_t ldc);
void qgemv_avxvnni(int M, int64_t n0, int64_t n1, const QActs& a, int64_t i0, const QMat& w,
                   float* c, int64_t ldc);

// The decode kernel on aarch64: C[0:M, n0:n1] from A's codes q (M rows of nb blocks of 32, in
// order) and scales d (M rows of nb), as quant::quantize_activations writes them. Each block's
// integer sum goes through sdot (the dot-product extension) or, in qgemv_neon, vmull and vpadal;
// Q4's codes become c - 8 before the product.
void qgemv_dotprod(int M, int64_t n0, int64_t n1, int64_t nb, const int8_t* q, const float* d,
                   const QMat& w, float* c, int64_t ldc);
void qgemv_neon(int M, int64_t n0, int64_t n1, int64_t nb, const int8_t* q, const float* d,
                const QMat& w, float* c, int64_t ldc);

}  // namespace purelm::kernels
