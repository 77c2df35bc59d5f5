// AVX512-VNNI decode kernel for block-quantized weights: integer products of W's codes with A's
// int8 codes (core/quant.h, quantize_activations), one vpdpbusd per 64 of them. vpdpbusd multiplies
// unsigned bytes by signed ones, so W's codes are read unsigned: Q4 codes c as they are, Q8 codes
// q as q + 128 (a flip of the sign bit), and each block's sum starts from A's offset, -8 or -128
// times the sum of A's codes in the block. Each block's sum is then scaled by d_W * d_A in float32.
//
// A step covers the blocks one vector holds. Q4: four blocks, their 16 code bytes side by side,
// the low nibbles (elements 0..15 of each block) in one vector and the high ones (16..31) in
// another; A's codes are laid out to match. Q8: two blocks of 32 codes. A row's last blocks that
// fill no whole step are steps of one block in a half-width vector. Each step has A's scales and
// offsets expanded to the step's 16 lanes of sums (zero where no block ends), so a step's sums need
// no shuffle. W's scales, 18 or 34 bytes apart, are gathered from one 64-byte load by a word
// permutation.
#include "purelm/core/quant.h"
#include "purelm/ops/kernels/avx512_util.h"
#include "purelm/ops/kernels/backend.h"
#include "purelm/ops/kernels/quant_gemm.h"
#include "purelm/ops/kernels/sweep.h"

#define PURELM_AVX512_VNNI __attribute__((target("avx512f,avx512bw,avx512vl,avx512vnni,fma")))

namespace purelm::kernels {

namespace {

template <DType T>
constexpr size_t kBytes = T == DType::Q8 ? quant::kQ8Bytes : quant::kQ4Bytes;

// The fp16 scales of the n blocks at p, each repeated over the 16 / n lanes of its sums, as
// float32: lane l takes word (l * n / 16) * bytes / 2 of the 64 bytes at p.
template <DType T, int N>
PURELM_AVX512_VNNI inline __m512 weight_scales(const uint8_t* p) {
  constexpr int words = int(kBytes<T> / 2), lanes = 16 / N;
  static constexpr auto idx = [] {
    struct {
      int16_t v[32];
    } r{};
    for (int l = 0; l < 16; ++l) r.v[l] = int16_t((l / lanes) * words);
    return r;
  }();
  const __m512i all = _mm512_loadu_si512(p);
  const __m512i w = _mm512_permutexvar_epi16(_mm512_loadu_si512(idx.v), all);
  return _mm512_cvtph_ps(_mm512_castsi512_si256(w));
}

// W's codes of a whole step at p, unsigned, in the order of A's codes: lo and hi for Q4 (lo only
// for Q8).
template <DType T>
PURELM_AVX512_VNNI inline void whole_codes(const uint8_t* p, __m512i& lo, __m512i& hi) {
  if constexpr (T == DType::Q4) {
    __m512i y = _mm512_castsi128_si512(_mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 2)));
    y = _mm512_inserti32x4(y, _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 20)), 1);
    y = _mm512_inserti32x4(y, _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 38)), 2);
    y = _mm512_inserti32x4(y, _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 56)), 3);
    const __m512i m = _mm512_set1_epi8(15);
    lo = _mm512_and_si512(y, m);
    hi = _mm512_and_si512(_mm512_srli_epi16(y, 4), m);
  } else {
    __m512i y = _mm512_castsi256_si512(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 2)));
    y = _mm512_inserti64x4(y, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 36)), 1);
    lo = _mm512_xor_si512(y, _mm512_set1_epi8(char(0x80)));
    hi = lo;
  }
}

// The 32 codes of one block at p, unsigned, in the low half (elements 0..31 in order).
template <DType T>
PURELM_AVX512_VNNI inline __m512i block_codes(const uint8_t* p) {
  if constexpr (T == DType::Q4) {
    const __m128i c = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 2)),
                  m = _mm_set1_epi8(15);
    const __m256i y = _mm256_inserti128_si256(_mm256_castsi128_si256(_mm_and_si128(c, m)),
                                              _mm_and_si128(_mm_srli_epi16(c, 4), m), 1);
    return _mm512_zextsi256_si512(y);
  } else {
    const __m256i c = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 2));
    return _mm512_zextsi256_si512(_mm256_xor_si256(c, _mm256_set1_epi8(char(0x80))));
  }
}

// One step of R rows of W at p (row stride rb) into s: `Whole` blocks, or one block of a row's
// tail; A's rows at x, their scales and offsets at sc and off.
template <DType T, int M, int R, bool Whole>
PURELM_AVX512_VNNI inline void step(const uint8_t* p, int64_t rb, const int8_t* const* x,
                                    const float* const* sc, const int32_t* const* off,
                                    __m512 (&s)[M][R]) {
  constexpr int whole = T == DType::Q4 ? 4 : 2;
  for (int r = 0; r < R; ++r) {
    const uint8_t* q = p + r * rb;
    __m512i lo, hi;
    __m512 dw;
    if constexpr (Whole) {
      whole_codes<T>(q, lo, hi);
      dw = weight_scales<T, whole>(q);
    } else {
      lo = block_codes<T>(q);
      dw = _mm512_set1_ps(f16_to_f32(quant::scale_bits(q)));
    }
    for (int i = 0; i < M; ++i) {
      __m512i acc = _mm512_loadu_si512(off[i]);
      if constexpr (Whole) {
        acc = _mm512_dpbusd_epi32(acc, lo, _mm512_loadu_si512(x[i]));
        if constexpr (T == DType::Q4)
          acc = _mm512_dpbusd_epi32(acc, hi, _mm512_loadu_si512(x[i] + 64));
      } else {
        const __m256i x32 = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[i]));
        acc = _mm512_dpbusd_epi32(acc, lo, _mm512_zextsi256_si512(x32));
      }
      const __m512 d = _mm512_mul_ps(dw, _mm512_loadu_ps(sc[i]));
      s[i][r] = _mm512_fmadd_ps(_mm512_cvtepi32_ps(acc), d, s[i][r]);
    }
  }
}

// C[0:M, j:j+R]; R * M float32 accumulators of the blocks' scaled sums. Each step prefetches its
// share of the group two groups ahead (Sweep, sweep.h).
template <DType T, int M, int R>
PURELM_AVX512_VNNI void block_rows(int64_t j, const QActs& a, int64_t i0, const QMat& w, float* c,
                                   int64_t ldc) {
  constexpr int64_t bytes = int64_t(kBytes<T>);
  constexpr int whole = T == DType::Q4 ? 4 : 2;
  const uint8_t* p = static_cast<const uint8_t*>(w.data) + j * w.row_bytes;
  const int8_t* x[M];
  const float* sc[M];
  const int32_t* off[M];
  for (int i = 0; i < M; ++i) {
    x[i] = a.codes_of(i0 + i, 0);
    sc[i] = a.scales_of(i0 + i, 0);
    off[i] = a.offsets_of(i0 + i, 0);
  }
  __m512 s[M][R];
  for (int i = 0; i < M; ++i)
    for (int r = 0; r < R; ++r) s[i][r] = _mm512_setzero_ps();
  const int64_t full = a.whole_steps();
  Sweep<2> ahead(p, R * w.row_bytes, a.steps);
  for (int64_t st = 0; st < full; ++st, p += whole * bytes) {
    ahead.step();
    step<T, M, R, true>(p, w.row_bytes, x, sc, off, s);
    for (int i = 0; i < M; ++i) {
      x[i] += whole * quant::kBlock;
      sc[i] += 16;
      off[i] += 16;
    }
  }
  for (int64_t st = full; st < a.steps; ++st, p += bytes) {
    ahead.step();
    step<T, M, R, false>(p, w.row_bytes, x, sc, off, s);
    for (int i = 0; i < M; ++i) {
      x[i] += quant::kBlock;
      sc[i] += 16;
      off[i] += 16;
    }
  }
  for (int i = 0; i < M; ++i)
    for (int r = 0; r < R; ++r) c[i * ldc + j + r] = _mm512_reduce_add_ps(s[i][r]);
}

template <DType T, int M>
void span(int64_t n0, int64_t n1, const QActs& a, int64_t i0, const QMat& w, float* c,
          int64_t ldc) {
  constexpr int R = M <= 2 ? 8 : 4;
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

void qgemv_vnni(int M, int64_t n0, int64_t n1, const QActs& a, int64_t i0, const QMat& w, float* c,
                int64_t ldc) {
  if (w.type == DType::Q8)
    dispatch<DType::Q8>(M, n0, n1, a, i0, w, c, ldc);
  else
    dispatch<DType::Q4>(M, n0, n1, a, i0, w, c, ldc);
}

}  // namespace purelm::kernels
