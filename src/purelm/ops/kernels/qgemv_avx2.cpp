// AVX2 decode kernel for block-quantized weights: integer products of W's codes with A's int8 codes
// (core/quant.h, quantize_activations), a block of 32 per vector. vpmaddubsw multiplies unsigned
// bytes by signed ones and adds pairs into int16, vpmaddwd adds those into int32; with AVX-VNNI one
// vpdpbusd does both (qgemv_avxvnni.cpp compiles this file again for that). Q8 codes q go in as |q|
// against A's codes carrying q's sign (llama.cpp's trick: both within [-127, 127], so a pair's sum
// stays below 2^15); Q4 codes c (0..15) as they are, their -8 taken out by starting each block's
// sum from -8 times the sum of A's codes in it (QCodes::offsets). A Q4 block's 16 bytes widen to
// one vector in element order: low nibbles (elements 0..15) in the low half, high ones above. Each
// block's int32 sums are scaled by d_W * d_A into float32 accumulators.
//
// R rows of W go at once, each block prefetching the same block 2R rows ahead (rows are about
// 1 KB, too short for the hardware prefetcher to run ahead of each group of R rows on its own).
#include <immintrin.h>

#include "purelm/core/quant.h"
#include "purelm/ops/kernels/quant_gemm.h"

#ifdef PURELM_QGEMV_AVXVNNI
#define PURELM_QGEMV __attribute__((target("avx2,fma,f16c,avxvnni")))
#define PURELM_QGEMV_NAME qgemv_avxvnni
#else
#define PURELM_QGEMV __attribute__((target("avx2,fma,f16c")))
#define PURELM_QGEMV_NAME qgemv_avx2
#endif

namespace purelm::kernels {

namespace {

template <DType T>
constexpr int64_t kBytes = int64_t(T == DType::Q8 ? quant::kQ8Bytes : quant::kQ4Bytes);

// acc plus, in each int32 lane, the four products of its unsigned bytes of u and signed bytes of s.
PURELM_QGEMV inline __m256i dot(__m256i acc, __m256i u, __m256i s) {
#ifdef PURELM_QGEMV_AVXVNNI
  return _mm256_dpbusd_avx_epi32(acc, u, s);
#else
  const __m256i pairs = _mm256_maddubs_epi16(u, s);
  return _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
#endif
}

PURELM_QGEMV inline float sum(__m256 v) {
  __m128 x = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  x = _mm_add_ps(x, _mm_movehl_ps(x, x));
  return _mm_cvtss_f32(_mm_add_ss(x, _mm_movehdup_ps(x)));
}

// C[0:M, j:j+R]; R * M float32 accumulators of the blocks' scaled sums.
template <DType T, int M, int R>
PURELM_QGEMV void block_rows(int64_t j, const QCodes& a, const QMat& w, float* c, int64_t ldc) {
  const int64_t rb = w.row_bytes;
  const uint8_t* p = static_cast<const uint8_t*>(w.data) + j * rb;
  __m256 s[M][R];
  for (int i = 0; i < M; ++i)
    for (int r = 0; r < R; ++r) s[i][r] = _mm256_setzero_ps();
  for (int64_t b = 0; b < a.nb; ++b, p += kBytes<T>) {
    for (int r = 0; r < R; ++r) {
      const uint8_t* q = p + r * rb;
      _mm_prefetch(reinterpret_cast<const char*>(q + 2 * R * rb), _MM_HINT_T0);
      const __m256 dw = _mm256_cvtph_ps(_mm_set1_epi16(int16_t(quant::scale_bits(q))));
      __m256i u, signs;
      if constexpr (T == DType::Q8) {
        signs = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + 2));
        u = _mm256_abs_epi8(signs);
      } else {
        const __m128i n = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q + 2));
        u = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(n, 4), n), _mm256_set1_epi8(15));
      }
      for (int i = 0; i < M; ++i) {
        const int64_t at = i * a.nb + b;
        const __m256i x =
            _mm256_loadu_si256(reinterpret_cast<const __m256i*>(a.q + at * quant::kBlock));
        __m256i acc;
        if constexpr (T == DType::Q8)
          acc = dot(_mm256_setzero_si256(), u, _mm256_sign_epi8(x, signs));
        else
          acc = dot(_mm256_zextsi128_si256(_mm_cvtsi32_si128(a.offsets[at])), u, x);
        const __m256 d = _mm256_mul_ps(dw, _mm256_broadcast_ss(a.d + at));
        s[i][r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc), d, s[i][r]);
      }
    }
  }
  for (int i = 0; i < M; ++i)
    for (int r = 0; r < R; ++r) c[i * ldc + j + r] = sum(s[i][r]);
}

template <DType T, int M>
void span(int64_t n0, int64_t n1, const QCodes& a, const QMat& w, float* c, int64_t ldc) {
  constexpr int R = M == 1 ? 8 : M == 2 ? 4 : 2;
  int64_t j = n0;
  for (; j + R <= n1; j += R) block_rows<T, M, R>(j, a, w, c, ldc);
  for (; j < n1; ++j) block_rows<T, M, 1>(j, a, w, c, ldc);
}

template <DType T>
void dispatch(int M, int64_t n0, int64_t n1, const QCodes& a, const QMat& w, float* c,
              int64_t ldc) {
  switch (M) {
    case 1:
      return span<T, 1>(n0, n1, a, w, c, ldc);
    case 2:
      return span<T, 2>(n0, n1, a, w, c, ldc);
    case 3:
      return span<T, 3>(n0, n1, a, w, c, ldc);
    default:
      return span<T, 4>(n0, n1, a, w, c, ldc);
  }
}

}  // namespace

void PURELM_QGEMV_NAME(int M, int64_t n0, int64_t n1, const QCodes& a, const QMat& w, float* c,
                       int64_t ldc) {
  if (w.type == DType::Q8)
    dispatch<DType::Q8>(M, n0, n1, a, w, c, ldc);
  else
    dispatch<DType::Q4>(M, n0, n1, a, w, c, ldc);
}

}  // namespace purelm::kernels
