// AVX2 + FMA GEMM: a 6 x 16 microkernel (12 ymm accumulators; per step two loads of B and six
// broadcasts of A feed 12 FMAs), packing by 8 x 8 in-register transposes that widen bf16 as they
// load, and the few-rows product that streams B (decode).
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <type_traits>

#include "purelm/ops/kernels/avx2_util.h"
#include "purelm/ops/kernels/backend.h"
#include "purelm/ops/kernels/sweep.h"

namespace purelm::kernels {

namespace {

using namespace avx2;

constexpr int kMr = 6, kNr = 16;
// A 384 x 16 panel of B (24 KB) stays in L1 while the microkernel walks a 120 x 384 block of A
// (180 KB) in L2; a 2048-column block of B (3 MB) in L3. Against blocks of 256, 384 took the
// small products of training (K 192-576) from about 65 to 70 GFLOP/s on one Zen 3 core.
constexpr int64_t kMc = 20 * kMr, kKc = 384, kNc = 2048;

// The whole tile is computed (rows of A past m are zero in the panel); only its m x n corner is
// stored. Fixed trip counts keep all twelve accumulators in registers.
PURELM_AVX2 void kernel(int64_t steps, const float* a, const float* b, float* c, int64_t ldc, int m,
                        int n, bool accumulate) {
  __m256 lo[kMr], hi[kMr];
#pragma GCC unroll 6
  for (int r = 0; r < kMr; ++r) lo[r] = hi[r] = _mm256_setzero_ps();
#pragma GCC unroll 2
  for (int64_t k = 0; k < steps; ++k, a += kMr, b += kNr) {
    const __m256 b0 = _mm256_load_ps(b), b1 = _mm256_load_ps(b + 8);
#pragma GCC unroll 6
    for (int r = 0; r < kMr; ++r) {
      const __m256 ar = _mm256_broadcast_ss(a + r);
      lo[r] = _mm256_fmadd_ps(ar, b0, lo[r]);
      hi[r] = _mm256_fmadd_ps(ar, b1, hi[r]);
    }
  }
  if (m == kMr && n == kNr) {
#pragma GCC unroll 6
    for (int r = 0; r < kMr; ++r) {
      float* cr = c + r * ldc;
      if (accumulate) {
        lo[r] = _mm256_add_ps(_mm256_loadu_ps(cr), lo[r]);
        hi[r] = _mm256_add_ps(_mm256_loadu_ps(cr + 8), hi[r]);
      }
      _mm256_storeu_ps(cr, lo[r]);
      _mm256_storeu_ps(cr + 8, hi[r]);
    }
    return;
  }
  alignas(32) float t[kMr][kNr];  // an edge of C: through a buffer
#pragma GCC unroll 6
  for (int r = 0; r < kMr; ++r) {
    _mm256_store_ps(t[r], lo[r]);
    _mm256_store_ps(t[r] + 8, hi[r]);
  }
  for (int r = 0; r < m; ++r)
    for (int j = 0; j < n; ++j) c[r * ldc + j] = (accumulate ? c[r * ldc + j] : 0.0f) + t[r][j];
}

// How far ahead a straight pack fetches (steps of k), as in the AVX-512 packs: the weights of a
// prefill or a training step come from DRAM in many short streams.
constexpr int64_t kAhead = 32;

// Operand k-contiguous (cs == 1): 8 rows x 8 k at a time, transposed in registers.
template <bool Bf16>
PURELM_AVX2 void pack_transposed(const Mat& m, int64_t i0, int n, int64_t k0, int64_t kc, int width,
                                 float* dst) {
  const int64_t esize = Bf16 ? 2 : 4;
  for (int g = 0; g < width; g += 8) {
    const int rows = std::min(8, n - g), lanes = std::min(8, width - g);
    for (int64_t k = 0; k < kc; k += 8) {
      const int kk = int(std::min<int64_t>(8, kc - k));
      __m256 r[8];
      for (int t = 0; t < 8; ++t) {
        if (t >= rows) {
          r[t] = _mm256_setzero_ps();
          continue;
        }
        const int64_t at = (i0 + g + t) * m.rs + k0 + k;
        _mm_prefetch(static_cast<const char*>(m.data) + (at + 8 * m.rs) * esize, _MM_HINT_T1);
        r[t] = load8<Bf16>(m.data, at, kk);
      }
      transpose8(r);
      // Steps of k are stored in order, so a step's spill lands where the next one goes.
      for (int t = 0; t < kk; ++t) store8(dst + (k + t) * width + g, r[t], lanes, k + t + 1 < kc);
    }
  }
}

// Operand contiguous along the panels (rs == 1): a straight copy per k, each row of the block
// walked whole before the next.
template <bool Bf16>
PURELM_AVX2 void pack_straight(const Mat& m, int64_t i0, int n, int64_t k0, int64_t kc, int width,
                               float* dst) {
  const int64_t esize = Bf16 ? 2 : 4;
  for (int64_t k = 0; k < kc; ++k, dst += width) {
    const char* ahead = static_cast<const char*>(m.data) + ((k0 + k + kAhead) * m.cs + i0) * esize;
    for (int64_t b = 0; b < n * esize; b += 64) _mm_prefetch(ahead + b, _MM_HINT_T1);
    for (int64_t p = 0; p * width < n; ++p)
      for (int g = 0; g < width; g += 8) {
        const int64_t col = p * width + g;
        store8(dst + p * kc * width + g,
               load8<Bf16>(m.data, (k0 + k) * m.cs + i0 + col,
                           int(std::min<int64_t>(n - col, width - g))),
               std::min(8, width - g), k + 1 < kc);
      }
  }
}

constexpr PackFn pack = pack_by_layout<pack_transposed<false>, pack_transposed<true>,
                                       pack_straight<false>, pack_straight<true>>;

void store(float* ci, float sum, bool accumulate) { *ci = (accumulate ? *ci : 0.0f) + sum; }

// C[0:M, j:j+R] from M rows of A and R rows of float32 B; M * R independent FMA chains. Each
// step prefetches its share of the group of R rows 2 groups ahead (Sweep). A's
// vectors are read from L1 as operands of the FMAs, which leaves the registers to the sums. The
// loops have fixed trip counts so that GCC keeps the sums in registers (with a loop over a
// run-time tail in the same body it stored them all to the stack at every step).
template <int M, int R>
PURELM_AVX2 void rows_f32(int64_t j, int64_t K, const float* a, int64_t lda, const Mat& b, float* c,
                          int64_t ldc, bool accumulate) {
  const float* w = static_cast<const float*>(b.data) + j * b.rs;
  __m256 s[M][R];
#pragma GCC unroll 32
  for (int q = 0; q < M * R; ++q) s[q / R][q % R] = _mm256_setzero_ps();
  const int64_t whole = K / 16 * 16;
  Sweep<2> ahead(w, R * b.rs * 4, whole / 16);
  for (int64_t k = 0; k < whole; k += 16) {
    ahead.step();
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const float* p = w + r * b.rs + k;
      const __m256 v0 = _mm256_loadu_ps(p), v1 = _mm256_loadu_ps(p + 8);
#pragma GCC unroll 4
      for (int i = 0; i < M; ++i)
        s[i][r] = _mm256_fmadd_ps(_mm256_loadu_ps(a + i * lda + k + 8), v1,
                                  _mm256_fmadd_ps(_mm256_loadu_ps(a + i * lda + k), v0, s[i][r]));
    }
  }
  for (int64_t k = whole; k < K; k += 8) {
    const int kk = int(std::min<int64_t>(8, K - k));
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const __m256 v = load8<false>(w + r * b.rs, k, kk);
#pragma GCC unroll 4
      for (int i = 0; i < M; ++i)
        s[i][r] = _mm256_fmadd_ps(load8<false>(a + i * lda, k, kk), v, s[i][r]);
    }
  }
#pragma GCC unroll 32
  for (int q = 0; q < M * R; ++q)
    store(c + (q / R) * ldc + j + q % R, hsum(s[q / R][q % R]), accumulate);
}

// The same for bf16 B, 16 elements (32 bytes) per load: the low halves of its 32-bit lanes are
// the even elements and the high halves the odd ones, so a shift and a mask make two float32
// vectors, multiplied by A split the same way beforehand (`even`, `odd`: [M, half] each,
// zero-padded to whole steps of 16). The R pairs of B stay in registers while each row of A is
// loaded once for all of them: ten loads for sixteen FMAs at M = 4, R = 2, where reading A again
// for each row of B took eighteen and left the FMA units waiting on the load ports (batched
// decode, where B comes from L2 once per group of rows).
template <int M, int R>
PURELM_AVX2 void rows_bf16(int64_t j, int64_t K, const float* even, const float* odd, int64_t half,
                           const Mat& b, float* c, int64_t ldc, bool accumulate) {
  const __m256i high = _mm256_set1_epi32(int32_t(0xffff0000u));
  const uint16_t* w = static_cast<const uint16_t*>(b.data) + j * b.rs;
  __m256 s[M][R];
#pragma GCC unroll 32
  for (int q = 0; q < M * R; ++q) s[q / R][q % R] = _mm256_setzero_ps();
  auto step = [&](int64_t k, const __m256i(&v)[R]) PURELM_AVX2 {
    __m256 we[R], wo[R];
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      we[r] = _mm256_castsi256_ps(_mm256_slli_epi32(v[r], 16));
      wo[r] = _mm256_castsi256_ps(_mm256_and_si256(v[r], high));
    }
#pragma GCC unroll 8
    for (int i = 0; i < M; ++i) {
      const __m256 e = _mm256_loadu_ps(even + i * half + k / 2),
                   o = _mm256_loadu_ps(odd + i * half + k / 2);
#pragma GCC unroll 8
      for (int r = 0; r < R; ++r)
        s[i][r] = _mm256_fmadd_ps(o, wo[r], _mm256_fmadd_ps(e, we[r], s[i][r]));
    }
  };
  const int64_t whole = K / 16 * 16;
  Sweep<2> ahead(w, R * b.rs * 2, whole / 16);
  for (int64_t k = 0; k < whole; k += 16) {
    ahead.step();
    __m256i v[R];
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r)
      v[r] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(w + r * b.rs + k));
    step(k, v);
  }
  if (whole < K) {
    alignas(32) uint16_t t[R][16] = {};
    __m256i v[R];
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      std::memcpy(t[r], w + r * b.rs + whole, size_t(K - whole) * 2);
      v[r] = _mm256_load_si256(reinterpret_cast<const __m256i*>(t[r]));
    }
    step(whole, v);
  }
#pragma GCC unroll 32
  for (int q = 0; q < M * R; ++q)
    store(c + (q / R) * ldc + j + q % R, hsum(s[q / R][q % R]), accumulate);
}

// Rows of B per call: M * R accumulators, and for bf16 the 2R halves of B's rows and a row of A's
// two halves, within the 16 registers. One row of A is memory-bound: B's rows are only read.
template <int M, bool Bf16>
constexpr int kRowsOfB = M == 1   ? 8
                         : Bf16   ? (M == 2 ? 3 : 2)
                         : M == 2 ? 4
                         : M == 3 ? 3
                                  : 2;

template <int M>
void span(int64_t n0, int64_t n1, int64_t K, const float* a, int64_t lda, const Mat& b, float* c,
          int64_t ldc, bool accumulate) {
  int64_t j = n0;
  if (!b.bf16) {
    constexpr int R = kRowsOfB<M, false>;
    for (; j + R <= n1; j += R) rows_f32<M, R>(j, K, a, lda, b, c, ldc, accumulate);
    for (; j < n1; ++j) rows_f32<M, 1>(j, K, a, lda, b, c, ldc, accumulate);
    return;
  }
  const int64_t half = (K + 15) / 16 * 8;
  const float* even = split_even_odd(M, K, a, lda, half);
  const float* odd = even + M * half;
  constexpr int R = kRowsOfB<M, true>;
  for (; j + R <= n1; j += R) rows_bf16<M, R>(j, K, even, odd, half, b, c, ldc, accumulate);
  for (; j < n1; ++j) rows_bf16<M, 1>(j, K, even, odd, half, b, c, ldc, accumulate);
}

void gemv(int M, int64_t n0, int64_t n1, int64_t K, const float* a, int64_t lda, const Mat& b,
          float* c, int64_t ldc, bool accumulate) {
  with_rows(M, [&](auto m) { span<m()>(n0, n1, K, a, lda, b, c, ldc, accumulate); });
}

}  // namespace

const Backend& avx2_backend() {
  static const Backend b{kMr, kNr, 1, kMc, kKc, kNc, pack, kernel, gemv};
  return b;
}

}  // namespace purelm::kernels
