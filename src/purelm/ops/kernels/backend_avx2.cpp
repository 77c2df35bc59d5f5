// AVX2 + FMA kernels: a 6 x 16 microkernel (12 ymm accumulators) and the few-rows product.
// Packing is the scalar one: this path serves CPUs without AVX-512.
#include <immintrin.h>

#include "purelm/ops/kernels/backend.h"

#define PURELM_AVX2 __attribute__((target("avx2,fma")))

namespace purelm::kernels {

namespace {

constexpr int kMr = 6, kNr = 16;

using Kernel = void (*)(int64_t, const float*, const float*, float*, int64_t, int, bool);

template <int R>
PURELM_AVX2 void kernel_rows(int64_t steps, const float* a, const float* b, float* c, int64_t ldc,
                             int n, bool accumulate) {
  __m256 lo[R], hi[R];
  for (int r = 0; r < R; ++r) lo[r] = hi[r] = _mm256_setzero_ps();
  for (int64_t k = 0; k < steps; ++k, a += kMr, b += kNr) {
    __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
    for (int r = 0; r < R; ++r) {
      __m256 ar = _mm256_broadcast_ss(a + r);
      lo[r] = _mm256_fmadd_ps(ar, b0, lo[r]);
      hi[r] = _mm256_fmadd_ps(ar, b1, hi[r]);
    }
  }
  for (int r = 0; r < R; ++r) {
    float* cr = c + r * ldc;
    if (n == kNr) {
      if (accumulate) {
        lo[r] = _mm256_add_ps(_mm256_loadu_ps(cr), lo[r]);
        hi[r] = _mm256_add_ps(_mm256_loadu_ps(cr + 8), hi[r]);
      }
      _mm256_storeu_ps(cr, lo[r]);
      _mm256_storeu_ps(cr + 8, hi[r]);
    } else {  // right edge of C: through a buffer
      alignas(32) float t[kNr];
      _mm256_store_ps(t, lo[r]);
      _mm256_store_ps(t + 8, hi[r]);
      for (int j = 0; j < n; ++j) cr[j] = (accumulate ? cr[j] : 0.0f) + t[j];
    }
  }
}

void kernel(int64_t steps, const float* a, const float* b, float* c, int64_t ldc, int m, int n,
            bool accumulate) {
  static constexpr Kernel kRows[kMr + 1] = {nullptr,        kernel_rows<1>, kernel_rows<2>,
                                            kernel_rows<3>, kernel_rows<4>, kernel_rows<5>,
                                            kernel_rows<6>};
  kRows[m](steps, a, b, c, ldc, n, accumulate);
}

template <bool Bf16>
PURELM_AVX2 inline __m256 load8(const void* p, int64_t at) {
  if constexpr (Bf16) {
    __m128i h =
        _mm_loadu_si128(reinterpret_cast<const __m128i*>(static_cast<const uint16_t*>(p) + at));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
  } else {
    return _mm256_loadu_ps(static_cast<const float*>(p) + at);
  }
}

PURELM_AVX2 inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
}

// C[0:M, j:j+R] from M rows of A and R rows of B; the last K % 8 elements are scalar.
template <int M, int R, bool Bf16>
PURELM_AVX2 void rows(int64_t j, int64_t K, const float* a, int64_t lda, const Mat& b, float* c,
                      int64_t ldc, bool accumulate) {
  __m256 s[M][R];
  for (int i = 0; i < M; ++i)
    for (int r = 0; r < R; ++r) s[i][r] = _mm256_setzero_ps();
  int64_t k = 0;
  for (; k + 8 <= K; k += 8)
    for (int r = 0; r < R; ++r) {
      __m256 w = load8<Bf16>(b.data, (j + r) * b.rs + k);
      for (int i = 0; i < M; ++i)
        s[i][r] = _mm256_fmadd_ps(_mm256_loadu_ps(a + i * lda + k), w, s[i][r]);
    }
  for (int i = 0; i < M; ++i)
    for (int r = 0; r < R; ++r) {
      float t = hsum(s[i][r]);
      for (int64_t kk = k; kk < K; ++kk) {
        int64_t at = (j + r) * b.rs + kk;
        t += a[i * lda + kk] * (Bf16 ? to_f32(static_cast<const bf16*>(b.data)[at])
                                     : static_cast<const float*>(b.data)[at]);
      }
      float* ci = c + i * ldc + j + r;
      *ci = (accumulate ? *ci : 0.0f) + t;
    }
}

template <int M, bool Bf16>
PURELM_AVX2 void span(int64_t n0, int64_t n1, int64_t K, const float* a, int64_t lda, const Mat& b,
                      float* c, int64_t ldc, bool accumulate) {
  int64_t j = n0;
  for (; j + 2 <= n1; j += 2) rows<M, 2, Bf16>(j, K, a, lda, b, c, ldc, accumulate);
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

void gemv(int M, int64_t n0, int64_t n1, int64_t K, const float* a, int64_t lda, const Mat& b,
          float* c, int64_t ldc, bool accumulate) {
  if (b.bf16)
    span_any<true>(M, n0, n1, K, a, lda, b, c, ldc, accumulate);
  else
    span_any<false>(M, n0, n1, K, a, lda, b, c, ldc, accumulate);
}

}  // namespace

const Backend& avx2_backend() {
  static const Backend b{kMr, kNr, 1, 16 * kMr, 256, 2048, pack_portable, kernel, gemv};
  return b;
}

}  // namespace purelm::kernels
