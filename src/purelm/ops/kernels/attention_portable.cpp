// Attention's products in plain C++ for CPUs without AVX2; the compiler vectorises them with the
// baseline ISA.
#include "purelm/ops/kernels/tile.h"
#include "purelm/ops/kernels/vec.h"

namespace purelm::kernels {

namespace {

inline float value(float x) { return x; }
inline float value(bf16 x) { return to_f32(x); }

template <class BT>
void gemm(int64_t M, int64_t N, int64_t K, const float* a, int64_t ars, int64_t acs, const BT* b,
          int64_t ldb, float* c, int64_t ldc, bool accumulate) {
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

void transpose(const float* src, int64_t rows, int64_t cols, int64_t lds, float* dst, int64_t ldd) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) dst[c * ldd + r] = src[r * lds + c];
}

void key_dots(const float* q, int64_t ldq, int64_t rows, const bf16* k, int64_t ldk, int64_t n,
              int64_t H, float* s) {
  for (int64_t r = 0; r < rows; ++r) dots(q + r * ldq, k, ldk, n, H, s + r * n);
}

}  // namespace

const TileProducts& portable_tiles() {
  static const TileProducts t{gemm<float>, gemm<bf16>, transpose, key_dots};
  return t;
}

AttentionTile& portable_attention(int64_t H, bool round) {
  return rows_tile(portable_tiles(), H, round);
}

}  // namespace purelm::kernels
