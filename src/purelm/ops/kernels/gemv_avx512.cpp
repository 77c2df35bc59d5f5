// AVX-512 products with at most four rows of A (decode): each row of B is read once, straight
// from its storage (bf16 widened in registers), so the loop runs at memory bandwidth.
#include "purelm/ops/kernels/avx512_util.h"
#include "purelm/ops/kernels/backend.h"

namespace purelm::kernels {

namespace {

using namespace avx512;

// C[0:M, j:j+R] from M rows of A and R rows of B; R rows give R * M independent FMA chains.
template <int M, int R, bool Bf16>
PURELM_AVX512 void rows(int64_t j, int64_t K, const float* a, int64_t lda, const Mat& b, float* c,
                        int64_t ldc, bool accumulate) {
  __m512 s[M][R];
  for (int i = 0; i < M; ++i)
    for (int r = 0; r < R; ++r) s[i][r] = _mm512_setzero_ps();
  for (int64_t k = 0; k < K; k += 16) {
    __mmask16 km = mask16(K - k);
    __m512 x[M];
    for (int i = 0; i < M; ++i) x[i] = _mm512_maskz_loadu_ps(km, a + i * lda + k);
    for (int r = 0; r < R; ++r) {
      __m512 w = load16<Bf16>(b.data, (j + r) * b.rs + k, km);
      for (int i = 0; i < M; ++i) s[i][r] = _mm512_fmadd_ps(x[i], w, s[i][r]);
    }
  }
  for (int i = 0; i < M; ++i)
    for (int r = 0; r < R; ++r) {
      float* ci = c + i * ldc + j + r;
      *ci = (accumulate ? *ci : 0.0f) + _mm512_reduce_add_ps(s[i][r]);
    }
}

template <int M, bool Bf16>
PURELM_AVX512 void span(int64_t n0, int64_t n1, int64_t K, const float* a, int64_t lda,
                        const Mat& b, float* c, int64_t ldc, bool accumulate) {
  constexpr int R = M <= 2 ? 8 : 4;
  int64_t j = n0;
  for (; j + R <= n1; j += R) rows<M, R, Bf16>(j, K, a, lda, b, c, ldc, accumulate);
  for (; j < n1; ++j) rows<M, 1, Bf16>(j, K, a, lda, b, c, ldc, accumulate);
}

template <bool Bf16>
void span_any(int M, int64_t n0, int64_t n1, int64_t K, const float* a, int64_t lda, const Mat& b,
              float* c, int64_t ldc, bool accumulate) {
  switch (M) {
    case 1:
      return span<1, Bf16>(n0, n1, K, a, lda, b, c, ldc, accumulate);
    case 2:
      return span<2, Bf16>(n0, n1, K, a, lda, b, c, ldc, accumulate);
    case 3:
      return span<3, Bf16>(n0, n1, K, a, lda, b, c, ldc, accumulate);
    default:
      return span<4, Bf16>(n0, n1, K, a, lda, b, c, ldc, accumulate);
  }
}

}  // namespace

void gemv_avx512(int M, int64_t n0, int64_t n1, int64_t K, const float* a, int64_t lda,
                 const Mat& b, float* c, int64_t ldc, bool accumulate) {
  if (b.bf16)
    span_any<true>(M, n0, n1, K, a, lda, b, c, ldc, accumulate);
  else
    span_any<false>(M, n0, n1, K, a, lda, b, c, ldc, accumulate);
}

}  // namespace purelm::kernels
