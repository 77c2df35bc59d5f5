// AVX-512 decode kernel for block-quantized weights: each block of a row of W is loaded once,
// widened to two float32 vectors (int8 codes sign-extended; 4-bit codes split by a mask and a
// shift), scaled exactly, and multiplied into up to four rows of A. R rows of W are in flight at
// once, each block prefetching its share of the group two groups ahead (Sweep, sweep.h).
#include "purelm/core/quant.h"
#include "purelm/ops/kernels/avx512_util.h"
#include "purelm/ops/kernels/backend.h"
#include "purelm/ops/kernels/quant_gemm.h"
#include "purelm/ops/kernels/sweep.h"

namespace purelm::kernels {

namespace {

using namespace avx512;

// The block's fp16 scale in all lanes.
PURELM_AVX512 inline __m512 scale(const uint8_t* block) {
  return _mm512_cvtph_ps(_mm256_set1_epi16(int16_t(quant::scale_bits(block))));
}

// The 32 decoded weights of a block as two vectors (elements 0..15, 16..31).
template <DType T>
PURELM_AVX512 inline void decode(const uint8_t* p, __m512& w0, __m512& w1) {
  const __m512 d = scale(p);
  if constexpr (T == DType::Q8) {
    w0 = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(
                           _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 2)))),
                       d);
    w1 = _mm512_mul_ps(_mm512_cvtepi32_ps(_mm512_cvtepi8_epi32(
                           _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 18)))),
                       d);
  } else {  // d * (c - 8) = c * d + (-8 d), exact in one fused step
    const __m512 off = _mm512_mul_ps(d, _mm512_set1_ps(-8.0f));
    __m512i v = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 2)));
    w0 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_and_si512(v, _mm512_set1_epi32(15))), d, off);
    w1 = _mm512_fmadd_ps(_mm512_cvtepi32_ps(_mm512_srli_epi32(v, 4)), d, off);
  }
}

// C[0:M, j:j+R]; R * M independent accumulators.
template <DType T, int M, int R>
PURELM_AVX512 void block_rows(int64_t j, int64_t nb, const float* a, int64_t lda, const QMat& w,
                              float* c, int64_t ldc) {
  constexpr int64_t bytes = int64_t(T == DType::Q8 ? quant::kQ8Bytes : quant::kQ4Bytes);
  const uint8_t* base = static_cast<const uint8_t*>(w.data) + j * w.row_bytes;
  __m512 s[M][R];
  for (int i = 0; i < M; ++i)
    for (int r = 0; r < R; ++r) s[i][r] = _mm512_setzero_ps();
  Sweep<2> ahead(base, R * w.row_bytes, nb);
  for (int64_t b = 0; b < nb; ++b) {
    ahead.step();
    __m512 x0[M], x1[M];
    for (int i = 0; i < M; ++i) {
      x0[i] = _mm512_loadu_ps(a + i * lda + b * 32);
      x1[i] = _mm512_loadu_ps(a + i * lda + b * 32 + 16);
    }
    for (int r = 0; r < R; ++r) {
      const uint8_t* p = base + r * w.row_bytes + b * bytes;
      __m512 w0, w1;
      decode<T>(p, w0, w1);
      for (int i = 0; i < M; ++i)
        s[i][r] = _mm512_fmadd_ps(x1[i], w1, _mm512_fmadd_ps(x0[i], w0, s[i][r]));
    }
  }
  for (int i = 0; i < M; ++i)
    for (int r = 0; r < R; ++r) c[i * ldc + j + r] = _mm512_reduce_add_ps(s[i][r]);
}

template <DType T, int M>
void span(int64_t n0, int64_t n1, int64_t K, const float* a, int64_t lda, const QMat& w, float* c,
          int64_t ldc) {
  constexpr int R = M <= 2 ? 8 : 4;
  const int64_t nb = quant::blocks(K);
  int64_t j = n0;
  for (; j + R <= n1; j += R) block_rows<T, M, R>(j, nb, a, lda, w, c, ldc);
  for (; j < n1; ++j) block_rows<T, M, 1>(j, nb, a, lda, w, c, ldc);
}

template <DType T>
void dispatch(int M, int64_t n0, int64_t n1, int64_t K, const float* a, int64_t lda, const QMat& w,
              float* c, int64_t ldc) {
  with_rows(M, [&](auto m) { span<T, m()>(n0, n1, K, a, lda, w, c, ldc); });
}

}  // namespace

void qgemv_avx512(int M, int64_t n0, int64_t n1, int64_t K, const float* a, int64_t lda,
                  const QMat& w, float* c, int64_t ldc) {
  if (w.type == DType::Q8)
    dispatch<DType::Q8>(M, n0, n1, K, a, lda, w, c, ldc);
  else
    dispatch<DType::Q4>(M, n0, n1, K, a, lda, w, c, ldc);
}

}  // namespace purelm::kernels
