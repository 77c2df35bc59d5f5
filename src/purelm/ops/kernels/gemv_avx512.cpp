// AVX-512 products with at most four rows of A (decode): each row of B is read once, straight
// from its storage, so the loop runs at memory bandwidth. With AVX512-BF16 and both operands bf16,
// vdpbf16ps takes 32 products per instruction from both rows as stored.
#include <type_traits>

#include "purelm/ops/kernels/avx512_util.h"
#include "purelm/ops/kernels/backend.h"
#include "purelm/ops/kernels/sweep.h"

namespace purelm::kernels {

namespace {

using namespace avx512;

void store(float* ci, float sum, bool accumulate) { *ci = (accumulate ? *ci : 0.0f) + sum; }

// C[0:M, j:j+R] from M rows of A and R rows of float32 B; R * M independent FMA chains.
template <int M, int R>
PURELM_AVX512 void rows_f32(int64_t j, int64_t K, const float* a, int64_t lda, const Mat& b,
                            float* c, int64_t ldc, bool accumulate) {
  __m512 s[M][R];
  for (int i = 0; i < M; ++i)
    for (int r = 0; r < R; ++r) s[i][r] = _mm512_setzero_ps();
  Sweep<2> ahead(static_cast<const float*>(b.data) + j * b.rs, R * b.rs * 4, (K + 15) / 16);
  for (int64_t k = 0; k < K; k += 16) {
    ahead.step();
    __mmask16 km = mask16(K - k);
    __m512 x[M];
    for (int i = 0; i < M; ++i) x[i] = _mm512_maskz_loadu_ps(km, a + i * lda + k);
    for (int r = 0; r < R; ++r) {
      __m512 w = load16<false>(b.data, (j + r) * b.rs + k, km);
      for (int i = 0; i < M; ++i) s[i][r] = _mm512_fmadd_ps(x[i], w, s[i][r]);
    }
  }
  for (int i = 0; i < M; ++i)
    for (int r = 0; r < R; ++r)
      store(c + i * ldc + j + r, _mm512_reduce_add_ps(s[i][r]), accumulate);
}

// The same for bf16 B, a whole cache line (32 elements) per load: the low halves of its 32-bit
// lanes are the even elements and the high halves the odd ones, so a shift and a mask make two
// float32 vectors, multiplied by A split the same way beforehand (`even`, `odd`: [M, K/2] each,
// zero-padded to whole lines). Each step prefetches its share of the group two groups ahead
// (Sweep, sweep.h).
template <int M, int R>
PURELM_AVX512 void rows_bf16(int64_t j, int64_t K, const float* even, const float* odd,
                             int64_t half, const Mat& b, float* c, int64_t ldc, bool accumulate) {
  const __m512i high = _mm512_set1_epi32(int32_t(0xffff0000u));
  const uint16_t* w = static_cast<const uint16_t*>(b.data) + j * b.rs;
  __m512 s[M][R];
  for (int i = 0; i < M; ++i)
    for (int r = 0; r < R; ++r) s[i][r] = _mm512_setzero_ps();
  Sweep<2> ahead(w, R * b.rs * 2, (K + 31) / 32);
  for (int64_t k = 0; k < K; k += 32) {
    ahead.step();
    const __mmask32 km = mask32(K - k);
    __m512 e[M], o[M];
    for (int i = 0; i < M; ++i) {
      e[i] = _mm512_loadu_ps(even + i * half + k / 2);
      o[i] = _mm512_loadu_ps(odd + i * half + k / 2);
    }
    for (int r = 0; r < R; ++r) {
      __m512i v = _mm512_maskz_loadu_epi16(km, w + r * b.rs + k);
      __m512 we = _mm512_castsi512_ps(_mm512_slli_epi32(v, 16)),
             wo = _mm512_castsi512_ps(_mm512_and_si512(v, high));
      for (int i = 0; i < M; ++i)
        s[i][r] = _mm512_fmadd_ps(o[i], wo, _mm512_fmadd_ps(e[i], we, s[i][r]));
    }
  }
  for (int i = 0; i < M; ++i)
    for (int r = 0; r < R; ++r)
      store(c + i * ldc + j + r, _mm512_reduce_add_ps(s[i][r]), accumulate);
}

// C[0:M, j:j+R] from M rows of bf16 A and R rows of bf16 B: a whole cache line of each per step,
// one vdpbf16ps per row pair. The products of bf16 values are exact in float32, so only the sums
// round, as in rows_f32; prefetching as rows_bf16.
template <int M, int R>
PURELM_AVX512_BF16 void rows_pairs(int64_t j, int64_t K, const uint16_t* a, int64_t lda,
                                   const Mat& b, float* c, int64_t ldc, bool accumulate) {
  const uint16_t* w = static_cast<const uint16_t*>(b.data) + j * b.rs;
  __m512 s[M][R];
  for (int i = 0; i < M; ++i)
    for (int r = 0; r < R; ++r) s[i][r] = _mm512_setzero_ps();
  Sweep<2> ahead(w, R * b.rs * 2, (K + 31) / 32);
  for (int64_t k = 0; k < K; k += 32) {
    ahead.step();
    const __mmask32 km = mask32(K - k);
    __m512bh x[M];
    for (int i = 0; i < M; ++i) x[i] = (__m512bh)_mm512_maskz_loadu_epi16(km, a + i * lda + k);
    for (int r = 0; r < R; ++r) {
      const __m512bh v = (__m512bh)_mm512_maskz_loadu_epi16(km, w + r * b.rs + k);
      for (int i = 0; i < M; ++i) s[i][r] = _mm512_dpbf16_ps(s[i][r], x[i], v);
    }
  }
  for (int i = 0; i < M; ++i)
    for (int r = 0; r < R; ++r)
      store(c + i * ldc + j + r, _mm512_reduce_add_ps(s[i][r]), accumulate);
}

template <int M>
void span_pairs(int64_t n0, int64_t n1, int64_t K, const uint16_t* a, int64_t lda, const Mat& b,
                float* c, int64_t ldc, bool accumulate) {
  constexpr int R = M <= 2 ? 8 : 4;
  int64_t j = n0;
  for (; j + R <= n1; j += R) rows_pairs<M, R>(j, K, a, lda, b, c, ldc, accumulate);
  for (; j < n1; ++j) rows_pairs<M, 1>(j, K, a, lda, b, c, ldc, accumulate);
}

template <int M>
void span(int64_t n0, int64_t n1, int64_t K, const float* a, int64_t lda, const Mat& b, float* c,
          int64_t ldc, bool accumulate) {
  constexpr int R = M <= 2 ? 8 : 4;
  int64_t j = n0;
  if (!b.bf16) {
    for (; j + R <= n1; j += R) rows_f32<M, R>(j, K, a, lda, b, c, ldc, accumulate);
    for (; j < n1; ++j) rows_f32<M, 1>(j, K, a, lda, b, c, ldc, accumulate);
    return;
  }
  const int64_t half = (K + 31) / 32 * 16;
  const float* even = split_even_odd(M, K, a, lda, half);
  const float* odd = even + M * half;
  for (; j + R <= n1; j += R) rows_bf16<M, R>(j, K, even, odd, half, b, c, ldc, accumulate);
  for (; j < n1; ++j) rows_bf16<M, 1>(j, K, even, odd, half, b, c, ldc, accumulate);
}

}  // namespace

void gemv_pairs_avx512(int M, int64_t n0, int64_t n1, int64_t K, const bf16* a, int64_t lda,
                       const Mat& b, float* c, int64_t ldc, bool accumulate) {
  const auto* a16 = reinterpret_cast<const uint16_t*>(a);
  with_rows(M, [&](auto m) { span_pairs<m()>(n0, n1, K, a16, lda, b, c, ldc, accumulate); });
}

void gemv_avx512(int M, int64_t n0, int64_t n1, int64_t K, const float* a, int64_t lda,
                 const Mat& b, float* c, int64_t ldc, bool accumulate) {
  with_rows(M, [&](auto m) { span<m()>(n0, n1, K, a, lda, b, c, ldc, accumulate); });
}

}  // namespace purelm::kernels
