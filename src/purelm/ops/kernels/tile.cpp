#include "purelm/ops/kernels/tile.h"

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <vector>

#include "purelm/core/error.h"
#if defined(__x86_64__)
#include "purelm/ops/kernels/avx2_util.h"
#include "purelm/ops/kernels/avx512_util.h"
#endif
#include "purelm/ops/kernels/isa.h"

namespace purelm::kernels {

namespace {

#if defined(__x86_64__)
using namespace avx2;
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

// AVX2 + FMA: 6 rows x 16 columns of C per block, 12 ymm accumulators (of 16 registers) with two
// of B's row k and one broadcast of A. Columns from N on are neither read nor written.

// Rows [0, MR) of C at c over its 16 columns from A at a and the panel of B at b, of which the
// vectors hold n0 and n1 columns (8 but in the last panel): masked on C (Tail), and on B too
// unless B is a zero-padded copy (TailB false).
template <int MR, bool Tail, bool TailB, class BT>
PURELM_AVX2 void block_avx2(int64_t K, const float* a, int64_t ars, int64_t acs, const BT* b,
                            int64_t ldb, float* c, int64_t ldc, int n0, int n1, bool accumulate) {
  constexpr bool kBf16 = std::is_same_v<BT, bf16>;
  if constexpr (!Tail) n0 = n1 = 8;
  const int b0 = TailB ? n0 : 8, b1 = TailB ? n1 : 8;
  // Two arrays of MR rather than one of MR x 2, each loop unrolled before GCC lays the arrays out:
  // otherwise it stores every accumulator to the stack at every k.
  __m256 lo[MR], hi[MR];
#pragma GCC unroll 6
  for (int r = 0; r < MR; ++r) {
    lo[r] = accumulate ? load8<false>(c, r * ldc, n0) : _mm256_setzero_ps();
    hi[r] = accumulate ? load8<false>(c, r * ldc + 8, n1) : _mm256_setzero_ps();
  }
  for (int64_t k = 0; k < K; ++k) {
    const __m256 w0 = load8<kBf16>(b, k * ldb, b0), w1 = load8<kBf16>(b, k * ldb + 8, b1);
#pragma GCC unroll 6
    for (int r = 0; r < MR; ++r) {
      __m256 x = _mm256_broadcast_ss(a + r * ars + k * acs);
      lo[r] = _mm256_fmadd_ps(x, w0, lo[r]);
      hi[r] = _mm256_fmadd_ps(x, w1, hi[r]);
    }
  }
#pragma GCC unroll 6
  for (int r = 0; r < MR; ++r) {
    store8(c + r * ldc, lo[r], n0, false);
    store8(c + r * ldc + 8, hi[r], n1, false);
  }
}

// All M rows of C at c over its 16 columns (n0 + n1 of them in C): 6 at a time, then the rest.
template <bool Tail, bool TailB, class BT>
PURELM_AVX2 void panel_avx2(int64_t M, int64_t K, const float* a, int64_t ars, int64_t acs,
                            const BT* b, int64_t ldb, float* c, int64_t ldc, int n0, int n1,
                            bool accumulate) {
  int64_t i = 0;
  for (; i + 6 <= M; i += 6)
    block_avx2<6, Tail, TailB>(K, a + i * ars, ars, acs, b, ldb, c + i * ldc, ldc, n0, n1,
                               accumulate);
  a += i * ars;
  c += i * ldc;
  switch (M - i) {
    case 5:
      return block_avx2<5, Tail, TailB>(K, a, ars, acs, b, ldb, c, ldc, n0, n1, accumulate);
    case 4:
      return block_avx2<4, Tail, TailB>(K, a, ars, acs, b, ldb, c, ldc, n0, n1, accumulate);
    case 3:
      return block_avx2<3, Tail, TailB>(K, a, ars, acs, b, ldb, c, ldc, n0, n1, accumulate);
    case 2:
      return block_avx2<2, Tail, TailB>(K, a, ars, acs, b, ldb, c, ldc, n0, n1, accumulate);
    case 1:
      return block_avx2<1, Tail, TailB>(K, a, ars, acs, b, ldb, c, ldc, n0, n1, accumulate);
  }
}

// Panels of 16 columns, each meeting all rows of A. A panel that several blocks of rows read is
// copied first into contiguous float32 (K x 16, zero past N): in place its rows are ldb apart,
// often a multiple of 4 KiB (keys and values of one head in [S, K, H]), so that they share a few
// sets of L1 and evict each other; and bf16 is widened once instead of once per block.
template <bool Tail, class BT>
PURELM_AVX2 void columns_avx2(int64_t M, int64_t K, const float* a, int64_t ars, int64_t acs,
                              const BT* b, int64_t ldb, float* c, int64_t ldc, int n0, int n1,
                              bool accumulate) {
  constexpr int64_t kCopyFromRows = 18;  // 3 blocks: the copy costs about one pass over the panel
  if (M < kCopyFromRows)
    return panel_avx2<Tail, Tail>(M, K, a, ars, acs, b, ldb, c, ldc, n0, n1, accumulate);
  thread_local std::vector<float> copy;
  copy.resize(size_t(K * 16));
  for (int64_t k = 0; k < K; ++k) {
    _mm256_storeu_ps(&copy[k * 16], load8<std::is_same_v<BT, bf16>>(b, k * ldb, n0));
    _mm256_storeu_ps(&copy[k * 16 + 8], load8<std::is_same_v<BT, bf16>>(b, k * ldb + 8, n1));
  }
  panel_avx2<Tail, false>(M, K, a, ars, acs, copy.data(), 16, c, ldc, n0, n1, accumulate);
}

template <class BT>
void tile_avx2(int64_t M, int64_t N, int64_t K, const float* a, int64_t ars, int64_t acs,
               const BT* b, int64_t ldb, float* c, int64_t ldc, bool accumulate) {
  int64_t j = 0;
  for (; j + 16 <= N; j += 16)
    columns_avx2<false>(M, K, a, ars, acs, b + j, ldb, c + j, ldc, 8, 8, accumulate);
  if (j < N)
    columns_avx2<true>(M, K, a, ars, acs, b + j, ldb, c + j, ldc, int(std::min<int64_t>(N - j, 8)),
                       int(std::max<int64_t>(N - j - 8, 0)), accumulate);
}

PURELM_AVX2 void transpose_avx2(const float* src, int64_t rows, int64_t cols, int64_t lds,
                                float* dst, int64_t ldd) {
  int64_t r = 0;
  for (; r + 8 <= rows; r += 8) {
    int64_t c = 0;
    for (; c + 8 <= cols; c += 8) {
      __m256 x[8];
      for (int i = 0; i < 8; ++i) x[i] = _mm256_loadu_ps(src + (r + i) * lds + c);
      transpose8(x);
      for (int i = 0; i < 8; ++i) _mm256_storeu_ps(dst + (c + i) * ldd + r, x[i]);
    }
    for (; c < cols; ++c)
      for (int64_t i = r; i < r + 8; ++i) dst[c * ldd + i] = src[i * lds + c];
  }
  for (; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) dst[c * ldd + r] = src[r * lds + c];
}

#endif

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
#if defined(__x86_64__)
  if (has(kAvx512)) return tile_avx512(M, N, K, a, ars, acs, b, ldb, c, ldc, accumulate);
  if (has(kAvx2)) return tile_avx2(M, N, K, a, ars, acs, b, ldb, c, ldc, accumulate);
#endif
  tile_portable(M, N, K, a, ars, acs, b, ldb, c, ldc, accumulate);
}

}  // namespace

void transpose(const float* src, int64_t rows, int64_t cols, int64_t lds, float* dst, int64_t ldd) {
#if defined(__x86_64__)
  if (has(kAvx2)) return transpose_avx2(src, rows, cols, lds, dst, ldd);
#endif
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) dst[c * ldd + r] = src[r * lds + c];
}

#if defined(__x86_64__)
void tile_gemm_pairs(int64_t M, int64_t N, int64_t K2, const void* a, int64_t ars, int64_t acs,
                     const void* b, int64_t ldb, float* c, int64_t ldc, bool accumulate) {
  check(has(kAvx512Bf16), "tile_gemm_pairs needs AVX512-BF16");
  int64_t i = 0;
  for (; i + 4 <= M; i += 4) rows_pairs<4>(i, N, K2, a, ars, acs, b, ldb, c, ldc, accumulate);
  for (; i < M; ++i) rows_pairs<1>(i, N, K2, a, ars, acs, b, ldb, c, ldc, accumulate);
}
#else
void tile_gemm_pairs(int64_t, int64_t, int64_t, const void*, int64_t, int64_t, const void*, int64_t,
                     float*, int64_t, bool) {
  fail("tile_gemm_pairs needs AVX512-BF16");
}
#endif

void tile_gemm(int64_t M, int64_t N, int64_t K, const float* a, int64_t ars, int64_t acs,
               const float* b, int64_t ldb, float* c, int64_t ldc, bool accumulate) {
  tile(M, N, K, a, ars, acs, b, ldb, c, ldc, accumulate);
}

void tile_gemm(int64_t M, int64_t N, int64_t K, const float* a, int64_t ars, int64_t acs,
               const bf16* b, int64_t ldb, float* c, int64_t ldc, bool accumulate) {
  tile(M, N, K, a, ars, acs, b, ldb, c, ldc, accumulate);
}

}  // namespace purelm::kernels
