// Attention's products on AVX2 + FMA.
#include <algorithm>
#include <type_traits>
#include <vector>

#include "purelm/ops/kernels/avx2_util.h"
#include "purelm/ops/kernels/tile.h"

namespace purelm::kernels {

namespace {

using namespace avx2;

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

// The sums of the lanes of a[0..3], in that order: ((0 + 1) + (2 + 3)) + ((4 + 5) + (6 + 7)).
PURELM_AVX2 __m128 hsum4(const __m256 a[4]) {
  const __m256 t = _mm256_hadd_ps(_mm256_hadd_ps(a[0], a[1]), _mm256_hadd_ps(a[2], a[3]));
  return _mm_add_ps(_mm256_castps256_ps128(t), _mm256_extractf128_ps(t, 1));
}

// Rows r < R of s (lds apart) at four keys: s[r][c] = q_r . key c. Each key's eight elements are
// widened once for all the rows; 4R sums stay in registers (13 of 16 at R = 2).
template <int R>
PURELM_AVX2 void quad_dots(const float* q, int64_t ldq, const uint16_t* const key[4], int64_t H,
                           float* s, int64_t lds, int keys) {
  __m256 acc[R][4];
#pragma GCC unroll 8
  for (int i = 0; i < R * 4; ++i) acc[i / 4][i % 4] = _mm256_setzero_ps();
  for (int64_t h = 0; h < H; h += 8) {
    const int n = int(std::min<int64_t>(8, H - h));
    __m256 kv[4];
#pragma GCC unroll 4
    for (int c = 0; c < 4; ++c) kv[c] = load8<true>(key[c], h, n);
#pragma GCC unroll 2
    for (int r = 0; r < R; ++r) {
      const __m256 qv = load8<false>(q + r * ldq, h, n);
#pragma GCC unroll 4
      for (int c = 0; c < 4; ++c) acc[r][c] = _mm256_fmadd_ps(qv, kv[c], acc[r][c]);
    }
  }
  for (int r = 0; r < R; ++r) {
    alignas(16) float t[4];
    _mm_store_ps(t, hsum4(acc[r]));
    std::copy(t, t + keys, s + r * lds);
  }
}

// s[r * n + j] = q_r . k_j for r < rows, j < n, keys bf16 in place (a bf16 KV cache), four keys
// at a time for every pair of queries; a last group of fewer keys is padded with a zero key, so
// every score is summed in one order. Keys eight ahead are fetched meanwhile: a decode step reads
// the cache from memory, each key a few lines.
PURELM_AVX2 void key_dots_avx2(const float* q, int64_t ldq, int64_t rows, const bf16* k,
                               int64_t ldk, int64_t n, int64_t H, float* s) {
  thread_local std::vector<uint16_t> zero;
  if (int64_t(zero.size()) < H) zero.assign(size_t(H), 0);
  const uint16_t* kb = reinterpret_cast<const uint16_t*>(k);
  for (int64_t j = 0; j < n; j += 4) {
    const int keys = int(std::min<int64_t>(4, n - j));
    const uint16_t* key[4];
    for (int c = 0; c < 4; ++c) {
      key[c] = c < keys ? kb + (j + c) * ldk : zero.data();
      if (j + 8 + c < n)
        for (int64_t at = 0; at < H * 2; at += 64)
          _mm_prefetch(reinterpret_cast<const char*>(kb + (j + 8 + c) * ldk) + at, _MM_HINT_T0);
    }
    int64_t r = 0;
    for (; r + 2 <= rows; r += 2) quad_dots<2>(q + r * ldq, ldq, key, H, s + r * n + j, n, keys);
    if (r < rows) quad_dots<1>(q + r * ldq, ldq, key, H, s + r * n + j, n, keys);
  }
}

}  // namespace

const TileProducts& avx2_tiles() {
  static const TileProducts t{tile_avx2<float>, tile_avx2<bf16>, transpose_avx2, key_dots_avx2};
  return t;
}

AttentionTile& avx2_attention(int64_t H, bool round) { return rows_tile(avx2_tiles(), H, round); }

}  // namespace purelm::kernels
