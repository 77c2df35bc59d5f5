#include "purelm/ops/kernels/tile.h"

#include <cstring>
#include <type_traits>

#include "purelm/core/error.h"
#include "purelm/ops/kernels/avx512_util.h"
#include "purelm/ops/kernels/isa.h"

namespace purelm::kernels {

namespace {

using namespace avx512;

// Rows [i, i + MR) of C over columns [j, j + 64): MR x 4 accumulators, each k one broadcast of A
// per row and four loads of B's row k (float32, or bf16 widened in registers).
template <int MR, class BT>
PURELM_AVX512 void rows_avx512(int64_t i, int64_t N, int64_t K, const float* a, int64_t ars,
                               int64_t acs, const BT* b, int64_t ldb, float* c, int64_t ldc,
                               bool accumulate) {
  constexpr bool kBf16 = std::is_same_v<BT, bf16>;
  for (int64_t j = 0; j < N; j += 64) {
    __mmask16 m[4];
    for (int v = 0; v < 4; ++v) m[v] = mask16(N - j - 16 * v);
    __m512 s[MR][4];
    for (int r = 0; r < MR; ++r)
      for (int v = 0; v < 4; ++v)
        s[r][v] = accumulate ? _mm512_maskz_loadu_ps(m[v], c + (i + r) * ldc + j + 16 * v)
                             : _mm512_setzero_ps();
    for (int64_t k = 0; k < K; ++k) {
      __m512 w[4];
      for (int v = 0; v < 4; ++v) w[v] = load16<kBf16>(b, k * ldb + j + 16 * v, m[v]);
      for (int r = 0; r < MR; ++r) {
        __m512 x = _mm512_set1_ps(a[(i + r) * ars + k * acs]);
        for (int v = 0; v < 4; ++v) s[r][v] = _mm512_fmadd_ps(x, w[v], s[r][v]);
      }
    }
    for (int r = 0; r < MR; ++r)
      for (int v = 0; v < 4; ++v)
        _mm512_mask_storeu_ps(c + (i + r) * ldc + j + 16 * v, m[v], s[r][v]);
  }
}

template <class BT>
void tile_avx512(int64_t M, int64_t N, int64_t K, const float* a, int64_t ars, int64_t acs,
                 const BT* b, int64_t ldb, float* c, int64_t ldc, bool accumulate) {
  int64_t i = 0;
  for (; i + 4 <= M; i += 4) rows_avx512<4>(i, N, K, a, ars, acs, b, ldb, c, ldc, accumulate);
  for (; i < M; ++i) rows_avx512<1>(i, N, K, a, ars, acs, b, ldb, c, ldc, accumulate);
}

// The same over pairs: each step one 32-bit broadcast of A per row against four vectors of pairs.
template <int MR>
PURELM_AVX512_BF16 void rows_pairs(int64_t i, int64_t N, int64_t K2, const void* a, int64_t ars,
                                   int64_t acs, const void* b, int64_t ldb, float* c, int64_t ldc,
                                   bool accumulate) {
  const char *ap = static_cast<const char*>(a), *bp = static_cast<const char*>(b);
  for (int64_t j = 0; j < N; j += 64) {
    __mmask16 m[4];
    for (int v = 0; v < 4; ++v) m[v] = mask16(N - j - 16 * v);
    __m512 s[MR][4];
    for (int r = 0; r < MR; ++r)
      for (int v = 0; v < 4; ++v)
        s[r][v] = accumulate ? _mm512_maskz_loadu_ps(m[v], c + (i + r) * ldc + j + 16 * v)
                             : _mm512_setzero_ps();
    for (int64_t k = 0; k < K2; ++k) {
      __m512bh w[4];
      for (int v = 0; v < 4; ++v)
        w[v] = (__m512bh)_mm512_maskz_loadu_epi32(m[v], bp + (k * ldb + j + 16 * v) * 4);
      for (int r = 0; r < MR; ++r) {
        int pair;
        std::memcpy(&pair, ap + ((i + r) * ars + k * acs) * 4, 4);
        __m512bh x = (__m512bh)_mm512_set1_epi32(pair);
        for (int v = 0; v < 4; ++v) s[r][v] = _mm512_dpbf16_ps(s[r][v], x, w[v]);
      }
    }
    for (int r = 0; r < MR; ++r)
      for (int v = 0; v < 4; ++v)
        _mm512_mask_storeu_ps(c + (i + r) * ldc + j + 16 * v, m[v], s[r][v]);
  }
}

inline float value(float x) { return x; }
inline float value(bf16 x) { return to_f32(x); }

template <class BT>
void tile_portable(int64_t M, int64_t N, int64_t K, const float* a, int64_t ars, int64_t acs,
                   const BT* b, int64_t ldb, float* c, int64_t ldc, bool accumulate) {
  for (int64_t i = 0; i < M; ++i) {
    float* ci = c + i * ldc;
    if (!accumulate)
      for (int64_t j = 0; j < N; ++j) ci[j] = 0.0f;
    for (int64_t k = 0; k < K; ++k) {
      const float x = a[i * ars + k * acs];
      const BT* bk = b + k * ldb;
      for (int64_t j = 0; j < N; ++j) ci[j] += x * value(bk[j]);
    }
  }
}

template <class BT>
void tile(int64_t M, int64_t N, int64_t K, const float* a, int64_t ars, int64_t acs, const BT* b,
          int64_t ldb, float* c, int64_t ldc, bool accumulate) {
  if (has(kAvx512))
    tile_avx512(M, N, K, a, ars, acs, b, ldb, c, ldc, accumulate);
  else
    tile_portable(M, N, K, a, ars, acs, b, ldb, c, ldc, accumulate);
}

}  // namespace

void tile_gemm_pairs(int64_t M, int64_t N, int64_t K2, const void* a, int64_t ars, int64_t acs,
                     const void* b, int64_t ldb, float* c, int64_t ldc, bool accumulate) {
  check(has(kAvx512Bf16), "tile_gemm_pairs needs AVX512-BF16");
  int64_t i = 0;
  for (; i + 4 <= M; i += 4) rows_pairs<4>(i, N, K2, a, ars, acs, b, ldb, c, ldc, accumulate);
  for (; i < M; ++i) rows_pairs<1>(i, N, K2, a, ars, acs, b, ldb, c, ldc, accumulate);
}

void tile_gemm(int64_t M, int64_t N, int64_t K, const float* a, int64_t ars, int64_t acs,
               const float* b, int64_t ldb, float* c, int64_t ldc, bool accumulate) {
  tile(M, N, K, a, ars, acs, b, ldb, c, ldc, accumulate);
}

void tile_gemm(int64_t M, int64_t N, int64_t K, const float* a, int64_t ars, int64_t acs,
               const bf16* b, int64_t ldb, float* c, int64_t ldc, bool accumulate) {
  tile(M, N, K, a, ars, acs, b, ldb, c, ldc, accumulate);
}

}  // namespace purelm::kernels
