// aarch64 decode kernels for block-quantized weights: integer products of W's codes with A's int8
// codes (core/quant.h, quantize_activations), a block of 32 per step. W's codes go in signed: Q8's
// as stored, Q4's c - 8 (low nibbles are elements 0-15, high ones 16-31), so that no offset is
// needed. With the dot-product extension (qgemv_dotprod.cpp compiles this file again for it) two
// sdot make a block's int32 sums; without it vmull widens the products to int16 (|a w| <= 127^2)
// and vpadal adds their pairs into int32. Each block's sums are scaled by d_W * d_A into float32
// accumulators.
//
// R rows of W go at once, each step prefetching the same step 2R rows ahead (rows are about 1 KB).
#include <arm_neon.h>

#include "purelm/core/quant.h"
#include "purelm/ops/kernels/backend.h"
#include "purelm/ops/kernels/quant_gemm.h"

#ifdef PURELM_QGEMV_DOTPROD
#if defined(__clang__)
#define PURELM_QGEMV __attribute__((target("dotprod")))
#else
#define PURELM_QGEMV __attribute__((target("arch=armv8.2-a+dotprod")))
#endif
#define PURELM_QGEMV_NAME qgemv_dotprod
#else
#define PURELM_QGEMV
#define PURELM_QGEMV_NAME qgemv_neon
#endif

namespace purelm::kernels {

namespace {

// acc plus, in its int32 lanes, the products of the 16 signed bytes of a and w.
PURELM_QGEMV inline int32x4_t dot(int32x4_t acc, int8x16_t a, int8x16_t w) {
#ifdef PURELM_QGEMV_DOTPROD
  return vdotq_s32(acc, a, w);
#else
  acc = vpadalq_s16(acc, vmull_s8(vget_low_s8(a), vget_low_s8(w)));
  return vpadalq_s16(acc, vmull_high_s8(a, w));
#endif
}

// The block at p: its 32 codes as signed bytes (elements 0-15 in lo, 16-31 in hi) and its scale.
template <DType T>
PURELM_QGEMV inline float block(const uint8_t* p, int8x16_t& lo, int8x16_t& hi) {
  if constexpr (T == DType::Q8) {
    lo = vld1q_s8(reinterpret_cast<const int8_t*>(p + 2));
    hi = vld1q_s8(reinterpret_cast<const int8_t*>(p + 18));
  } else {
    const uint8x16_t y = vld1q_u8(p + 2);
    const int8x16_t eight = vdupq_n_s8(8);
    lo = vsubq_s8(vreinterpretq_s8_u8(vandq_u8(y, vdupq_n_u8(15))), eight);
    hi = vsubq_s8(vreinterpretq_s8_u8(vshrq_n_u8(y, 4)), eight);
  }
  return f16_to_f32(quant::scale_bits(p));
}

// C[0:M, j:j+R]; R * M float32 accumulators of the blocks' scaled sums.
template <DType T, int M, int R>
PURELM_QGEMV void block_rows(int64_t j, int64_t nb, const int8_t* q, const float* d, const QMat& w,
                             float* c, int64_t ldc) {
  constexpr int64_t bytes = int64_t(T == DType::Q8 ? quant::kQ8Bytes : quant::kQ4Bytes);
  const uint8_t* p = static_cast<const uint8_t*>(w.data) + j * w.row_bytes;
  float32x4_t s[M][R];
  for (int i = 0; i < M; ++i)
    for (int r = 0; r < R; ++r) s[i][r] = vdupq_n_f32(0);
  for (int64_t b = 0; b < nb; ++b, p += bytes) {
    int8x16_t alo[M], ahi[M];
#pragma GCC unroll 4
    for (int i = 0; i < M; ++i) {
      alo[i] = vld1q_s8(q + (i * nb + b) * quant::kBlock);
      ahi[i] = vld1q_s8(q + (i * nb + b) * quant::kBlock + 16);
    }
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const uint8_t* wr = p + r * w.row_bytes;
      __builtin_prefetch(wr + 2 * R * w.row_bytes);
      int8x16_t lo, hi;
      const float dw = block<T>(wr, lo, hi);
#pragma GCC unroll 4
      for (int i = 0; i < M; ++i) {
        const int32x4_t sums = dot(dot(vdupq_n_s32(0), alo[i], lo), ahi[i], hi);
        s[i][r] = vfmaq_n_f32(s[i][r], vcvtq_f32_s32(sums), dw * d[i * nb + b]);
      }
    }
  }
  for (int i = 0; i < M; ++i)
    for (int r = 0; r < R; ++r) c[i * ldc + j + r] = vaddvq_f32(s[i][r]);
}

template <DType T, int M>
void span(int64_t n0, int64_t n1, int64_t nb, const int8_t* q, const float* d, const QMat& w,
          float* c, int64_t ldc) {
  constexpr int R = M == 1 ? 8 : M == 2 ? 4 : 2;
  int64_t j = n0;
  for (; j + R <= n1; j += R) block_rows<T, M, R>(j, nb, q, d, w, c, ldc);
  for (; j < n1; ++j) block_rows<T, M, 1>(j, nb, q, d, w, c, ldc);
}

template <DType T>
void dispatch(int M, int64_t n0, int64_t n1, int64_t nb, const int8_t* q, const float* d,
              const QMat& w, float* c, int64_t ldc) {
  with_rows(M, [&](auto m) { span<T, m()>(n0, n1, nb, q, d, w, c, ldc); });
}

}  // namespace

void PURELM_QGEMV_NAME(int M, int64_t n0, int64_t n1, int64_t nb, const int8_t* q, const float* d,
                       const QMat& w, float* c, int64_t ldc) {
  if (w.type == DType::Q8)
    dispatch<DType::Q8>(M, n0, n1, nb, q, d, w, c, ldc);
  else
    dispatch<DType::Q4>(M, n0, n1, nb, q, d, w, c, ldc);
}

}  // namespace purelm::kernels
