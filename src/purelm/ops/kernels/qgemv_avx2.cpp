// AVX2 decode kernel for block-quantized weights: integer products of W's codes with A's int8 codes
// (core/quant.h, quantize_activations). vpmaddubsw multiplies unsigned bytes by signed ones and
// adds pairs into int16, vpmaddwd adds those into int32; with AVX-VNNI one vpdpbusd does both
// (qgemv_avxvnni.cpp compiles this file again for that). Q8 codes q go in as |q| against A's codes
// carrying q's sign (llama.cpp's trick: both are within [-127, 127], so a pair's sum stays below
// 2^15), a block per step. Q4 codes c (0..15) go in as they are, two blocks per step (their low
// nibbles in one vector, high ones in another, as QActs lays out A's codes), each block's sum
// starting from A's offset, -8 times the sum of A's codes in it; a row's odd last block is a step
// of its own, nibbles widened in element order. Each step's int32 sums are scaled by d_W * d_A
// (A's spread over the step's 8 lanes) into float32 accumulators.
//
// R rows of W go at once, each step prefetching its share of the group 2 groups ahead
// (Sweep, sweep.h).
#include "purelm/core/quant.h"
#include "purelm/ops/kernels/avx2_util.h"
#include "purelm/ops/kernels/backend.h"
#include "purelm/ops/kernels/quant_gemm.h"
#include "purelm/ops/kernels/sweep.h"

#ifdef PURELM_QGEMV_AVXVNNI
#define PURELM_QGEMV __attribute__((target("avx2,fma,f16c,avxvnni")))
#define PURELM_QGEMV_NAME qgemv_avxvnni
#else
#define PURELM_QGEMV __attribute__((target("avx2,fma,f16c")))
#define PURELM_QGEMV_NAME qgemv_avx2
#endif

namespace purelm::kernels {

namespace {

// acc plus, in each int32 lane, the four products of its unsigned bytes of u and signed bytes of
// x; dot2 adds those of a second pair (the int16 sums of both stay below 2^15 for Q4's codes).
PURELM_QGEMV inline __m256i dot(__m256i acc, __m256i u, __m256i x) {
#ifdef PURELM_QGEMV_AVXVNNI
  return _mm256_dpbusd_avx_epi32(acc, u, x);
#else
  const __m256i pairs = _mm256_maddubs_epi16(u, x);
  return _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
#endif
}

PURELM_QGEMV inline __m256i dot2(__m256i acc, __m256i u0, __m256i x0, __m256i u1, __m256i x1) {
#ifdef PURELM_QGEMV_AVXVNNI
  return _mm256_dpbusd_avx_epi32(_mm256_dpbusd_avx_epi32(acc, u0, x0), u1, x1);
#else
  const __m256i pairs =
      _mm256_add_epi16(_mm256_maddubs_epi16(u0, x0), _mm256_maddubs_epi16(u1, x1));
  return _mm256_add_epi32(acc, _mm256_madd_epi16(pairs, _mm256_set1_epi16(1)));
#endif
}

PURELM_QGEMV inline __m256i load(const void* p) {
  return _mm256_loadu_si256(static_cast<const __m256i*>(p));
}

// The fp16 scale of the block at p in 8 words.
PURELM_QGEMV inline __m128i scale(const uint8_t* p) {
  return _mm_set1_epi16(int16_t(quant::scale_bits(p)));
}

// One step of R rows of W at p (row stride rb) into s: a Q4 step of two blocks (`Pair`) or of one,
// a Q8 step of one; A's rows at x, their scales and offsets at sc and off.
template <DType T, int M, int R, bool Pair>
PURELM_QGEMV inline void step(const uint8_t* p, int64_t rb, const int8_t* const* x,
                              const float* const* sc, const int32_t* const* off,
                              __m256 (&s)[M][R]) {
  constexpr int64_t bytes = int64_t(T == DType::Q8 ? quant::kQ8Bytes : quant::kQ4Bytes);
  const __m256i nibble = _mm256_set1_epi8(15);
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
    const uint8_t* q = p + r * rb;
    __m256i lo, hi;  // Q8: |codes| and codes; Q4: low and high nibbles of a pair of blocks
    __m256 dw;
    if constexpr (T == DType::Q8) {
      hi = load(q + 2);
      lo = _mm256_abs_epi8(hi);
      dw = _mm256_cvtph_ps(scale(q));
    } else if constexpr (Pair) {
      const __m256i y = _mm256_loadu2_m128i(reinterpret_cast<const __m128i*>(q + bytes + 2),
                                            reinterpret_cast<const __m128i*>(q + 2));
      lo = _mm256_and_si256(y, nibble);
      hi = _mm256_and_si256(_mm256_srli_epi16(y, 4), nibble);
      dw = _mm256_cvtph_ps(_mm_unpacklo_epi64(scale(q), scale(q + bytes)));
    } else {
      const __m128i y = _mm_loadu_si128(reinterpret_cast<const __m128i*>(q + 2));
      lo = _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(y, 4), y), nibble);
      dw = _mm256_cvtph_ps(scale(q));
    }
#pragma GCC unroll 4
    for (int i = 0; i < M; ++i) {
      __m256i acc;
      if constexpr (T == DType::Q8)
        acc = dot(_mm256_setzero_si256(), lo, _mm256_sign_epi8(load(x[i]), hi));
      else if constexpr (Pair)
        acc = dot2(load(off[i]), lo, load(x[i]), hi, load(x[i] + 32));
      else
        acc = dot(load(off[i]), lo, load(x[i]));
      const __m256 d = _mm256_mul_ps(dw, _mm256_loadu_ps(sc[i]));
      s[i][r] = _mm256_fmadd_ps(_mm256_cvtepi32_ps(acc), d, s[i][r]);
    }
  }
}

// C[0:M, j:j+R]; R * M float32 accumulators of the steps' scaled sums.
template <DType T, int M, int R>
PURELM_QGEMV void block_rows(int64_t j, const QActs& a, int64_t i0, const QMat& w, float* c,
                             int64_t ldc) {
  constexpr int64_t bytes = int64_t(T == DType::Q8 ? quant::kQ8Bytes : quant::kQ4Bytes);
  constexpr int whole = T == DType::Q4 ? 2 : 1;
  const uint8_t* p = static_cast<const uint8_t*>(w.data) + j * w.row_bytes;
  const int8_t* x[M];
  const float* sc[M];
  const int32_t* off[M];
  for (int i = 0; i < M; ++i) {
    x[i] = a.codes_of(i0 + i, 0);
    sc[i] = a.scales_of(i0 + i, 0);
    off[i] = a.offsets_of(i0 + i, 0);
  }
  __m256 s[M][R];
  for (int i = 0; i < M; ++i)
    for (int r = 0; r < R; ++r) s[i][r] = _mm256_setzero_ps();
  const int64_t full = a.whole_steps();
  Sweep<3> ahead(p, R * w.row_bytes, full);
  for (int64_t st = 0; st < full; ++st, p += whole * bytes) {
    ahead.step();
    step<T, M, R, whole == 2>(p, w.row_bytes, x, sc, off, s);
    for (int i = 0; i < M; ++i) {
      x[i] += whole * quant::kBlock;
      sc[i] += 8;
      off[i] += 8;
    }
  }
  if (full < a.steps) step<T, M, R, false>(p, w.row_bytes, x, sc, off, s);  // Q4's odd block
  for (int i = 0; i < M; ++i)
    for (int r = 0; r < R; ++r) c[i * ldc + j + r] = avx2::hsum(s[i][r]);
}

template <DType T, int M>
void span(int64_t n0, int64_t n1, const QActs& a, int64_t i0, const QMat& w, float* c,
          int64_t ldc) {
  constexpr int R = M == 1 ? 8 : M == 2 ? 4 : 2;
  int64_t j = n0;
  for (; j + R <= n1; j += R) block_rows<T, M, R>(j, a, i0, w, c, ldc);
  for (; j < n1; ++j) block_rows<T, M, 1>(j, a, i0, w, c, ldc);
}

template <DType T>
void dispatch(int M, int64_t n0, int64_t n1, const QActs& a, int64_t i0, const QMat& w, float* c,
              int64_t ldc) {
  with_rows(M, [&](auto m) { span<T, m()>(n0, n1, a, i0, w, c, ldc); });
}

}  // namespace

void PURELM_QGEMV_NAME(int M, int64_t n0, int64_t n1, const QActs& a, int64_t i0, const QMat& w,
                       float* c, int64_t ldc) {
  if (w.type == DType::Q8)
    dispatch<DType::Q8>(M, n0, n1, a, i0, w, c, ldc);
  else
    dispatch<DType::Q4>(M, n0, n1, a, i0, w, c, ldc);
}

}  // namespace purelm::kernels
