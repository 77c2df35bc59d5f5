// Attention's products on AVX-512 (its operands are turned around with AVX2's transpose).
#include <type_traits>

#include "purelm/ops/kernels/avx512_util.h"
#include "purelm/ops/kernels/tile.h"

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

}  // namespace

const TileProducts& avx512_tiles() {
  static const TileProducts t{tile_avx512<float>, tile_avx512<bf16>, avx2_tiles().transpose,
                              avx2_tiles().key_dots};
  return t;
}

AttentionTile& avx512_attention(int64_t H, bool round) {
  return rows_tile(avx512_tiles(), H, round);
}

}  // namespace purelm::kernels
