// AVX-512 GEMM: a 14 x 32 microkernel (28 zmm accumulators; per step two loads of B and 14
// broadcasts of A feed 28 FMAs), and packing by 16 x 16 in-register transposes. With AVX512-BF16
// the same tile runs on pairs of bf16 with vdpbf16ps, twice the products per instruction.
#include <algorithm>

#include "purelm/ops/kernels/avx512_util.h"
#include "purelm/ops/kernels/backend.h"

namespace purelm::kernels {

void gemv_avx512(int M, int64_t n0, int64_t n1, int64_t K, const float* a, int64_t lda,
                 const Mat& b, float* c, int64_t ldc, bool accumulate);

namespace {

using namespace avx512;

constexpr int kMr = 14, kNr = 32;

// The blocks of K and of the panels: a 256 x 32 panel of B (32 KB) stays in L1, a 336 x 256 block
// of A (336 KB) in L2. Pairs of bf16 take blocks of 512 steps (1024 k): a 688 KB block of A in
// L2 while a 64 KB panel of B streams from L2 through L1. There a long block of K matters more
// than a B panel that fits L1, as each block of K loads and stores the tiles of C, which no cache
// holds in a training step's products (measured: 256 steps ran 10-15% slower).
constexpr int64_t kMc = 24 * kMr, kKc = 256, kKcPairs = 1024, kNc = 4096;

using Kernel = void (*)(int64_t, const float*, const float*, float*, int64_t, int, bool);

PURELM_AVX512 inline void store_tile(__m512* lo, __m512* hi, int rows, float* c, int64_t ldc, int n,
                                     bool accumulate) {
  __mmask16 m0 = mask16(n), m1 = mask16(n - 16);
  for (int r = 0; r < rows; ++r) {
    float* cr = c + r * ldc;
    if (accumulate) {
      lo[r] = _mm512_add_ps(_mm512_maskz_loadu_ps(m0, cr), lo[r]);
      hi[r] = _mm512_add_ps(_mm512_maskz_loadu_ps(m1, cr + 16), hi[r]);
    }
    _mm512_mask_storeu_ps(cr, m0, lo[r]);
    _mm512_mask_storeu_ps(cr + 16, m1, hi[r]);
  }
}

// R rows of the tile (R < kMr only at the bottom edge of C).
template <int R>
PURELM_AVX512 void kernel_f32(int64_t steps, const float* a, const float* b, float* c, int64_t ldc,
                              int n, bool accumulate) {
  __m512 lo[R], hi[R];
  for (int r = 0; r < R; ++r) lo[r] = hi[r] = _mm512_setzero_ps();
  for (int64_t k = 0; k < steps; ++k, a += kMr, b += kNr) {
    __m512 b0 = _mm512_load_ps(b), b1 = _mm512_load_ps(b + 16);
#pragma GCC unroll 14
    for (int r = 0; r < R; ++r) {
      __m512 ar = _mm512_set1_ps(a[r]);
      lo[r] = _mm512_fmadd_ps(ar, b0, lo[r]);
      hi[r] = _mm512_fmadd_ps(ar, b1, hi[r]);
    }
  }
  store_tile(lo, hi, R, c, ldc, n, accumulate);
}

// The same tile over packed pairs: a step holds (k, k + 1) of one row or column in 32 bits.
template <int R>
PURELM_AVX512_BF16 void kernel_pairs(int64_t steps, const float* a, const float* b, float* c,
                                     int64_t ldc, int n, bool accumulate) {
  __m512 lo[R], hi[R];
  for (int r = 0; r < R; ++r) lo[r] = hi[r] = _mm512_setzero_ps();
  for (int64_t k = 0; k < steps; ++k, a += kMr, b += kNr) {
    __m512bh b0 = (__m512bh)_mm512_load_si512(b), b1 = (__m512bh)_mm512_load_si512(b + 16);
#pragma GCC unroll 14
    for (int r = 0; r < R; ++r) {
      __m512bh ar = (__m512bh)_mm512_castps_si512(_mm512_set1_ps(a[r]));
      lo[r] = _mm512_dpbf16_ps(lo[r], ar, b0);
      hi[r] = _mm512_dpbf16_ps(hi[r], ar, b1);
    }
  }
  store_tile(lo, hi, R, c, ldc, n, accumulate);
}

#define PURELM_TILE_ROWS(f)                                                                    \
  {                                                                                            \
    nullptr, f<1>, f<2>, f<3>, f<4>, f<5>, f<6>, f<7>, f<8>, f<9>, f<10>, f<11>, f<12>, f<13>, \
        f<14>                                                                                  \
  }

void kernel(int64_t steps, const float* a, const float* b, float* c, int64_t ldc, int m, int n,
            bool accumulate) {
  static constexpr Kernel kRows[kMr + 1] = PURELM_TILE_ROWS(kernel_f32);
  kRows[m](steps, a, b, c, ldc, n, accumulate);
}

void kernel_bf16(int64_t steps, const float* a, const float* b, float* c, int64_t ldc, int m, int n,
                 bool accumulate) {
  static constexpr Kernel kRows[kMr + 1] = PURELM_TILE_ROWS(kernel_pairs);
  kRows[m](steps, a, b, c, ldc, n, accumulate);
}

// Packing reads its operand as many short streams: 16 rows at once when it transposes, one short
// row per k when it copies straight. The weights of a prefill or a training step come from DRAM,
// and with the hardware prefetchers alone the packs waited on their loads (a tenth of a prefill).
// Each pack fetches into L2 what it reads a while later: a transposing one the same k of the next
// 16 rows, a straight one the row kAhead steps of k on. A straight pack also walks each row of the
// whole block before the next (the rows of A in a weight gradient are 12 KB apart).
constexpr int64_t kAhead = 32;

// The cache lines of elements [at, at + n).
template <bool Bf16>
PURELM_AVX512 inline void prefetch(const void* data, int64_t at, int n) {
  const char* p = static_cast<const char*>(data) + at * (Bf16 ? 2 : 4);
  for (int b = 0; b < n * (Bf16 ? 2 : 4); b += 64) _mm_prefetch(p + b, _MM_HINT_T1);
}

// Operand k-contiguous (cs == 1): 16 rows x 16 k at a time, transposed in registers.
template <bool Bf16>
PURELM_AVX512 void pack_transposed(const Mat& m, int64_t i0, int n, int64_t k0, int64_t kc,
                                   int width, float* dst) {
  for (int g = 0; g < width; g += 16) {
    int rows = n - g;
    __mmask16 wmask = mask16(width - g);
    for (int64_t k = 0; k < kc; k += 16) {
      int kk = int(kc - k < 16 ? kc - k : 16);
      __m512 r[16];
      for (int t = 0; t < 16; ++t)
        r[t] = t < rows ? load16<Bf16>(m.data, (i0 + g + t) * m.rs + k0 + k, mask16(kk))
                        : _mm512_setzero_ps();
      transpose16(r);
      for (int t = 0; t < kk; ++t) _mm512_mask_storeu_ps(dst + (k + t) * width + g, wmask, r[t]);
    }
  }
}

// Operand contiguous along the panels (rs == 1): a straight copy per k.
template <bool Bf16>
PURELM_AVX512 void pack_straight(const Mat& m, int64_t i0, int n, int64_t k0, int64_t kc, int width,
                                 float* dst) {
  for (int64_t k = 0; k < kc; ++k, dst += width) {
    prefetch<Bf16>(m.data, (k0 + k + kAhead) * m.cs + i0, n);
    for (int64_t p = 0; p * width < n; ++p)
      for (int g = 0; g < width; g += 16) {
        int64_t col = p * width + g;
        _mm512_mask_storeu_ps(dst + p * kc * width + g, mask16(width - g),
                              load16<Bf16>(m.data, (k0 + k) * m.cs + i0 + col,
                                           mask16(std::min<int64_t>(n - col, width - g))));
      }
  }
}

// The panels of a block one by one, with `floats` per panel.
template <class Panel>
inline void each_panel(int64_t i0, int n, int width, int64_t floats, float* dst, Panel panel) {
  for (int p = 0; p * width < n; ++p)
    panel(i0 + p * width, std::min(width, n - p * width), dst + p * floats);
}

constexpr PackFn pack = pack_by_layout<pack_transposed<false>, pack_transposed<true>,
                                       pack_straight<false>, pack_straight<true>>;

// Pairs of bf16 along k in 32-bit lanes: (k, k + 1) of one row or column, k even, the lower half
// holding k. f32 operands are rounded to nearest even (vcvtne2ps2bf16); an odd tail leaves the
// upper half of the last pair zero.

// k-contiguous (cs == 1): 32 consecutive k of 16 rows as 16 lanes of pairs, transposed in
// registers.
template <bool Bf16>
PURELM_AVX512_BF16 void pairs_transposed(const Mat& m, int64_t i0, int n, int64_t k0, int64_t kc,
                                         int width, float* dst) {
  for (int g = 0; g < width; g += 16) {
    int rows = n - g;
    __mmask16 wmask = mask16(width - g);
    for (int64_t k = 0; k < kc; k += 32) {
      int kk = int(kc - k < 32 ? kc - k : 32);
      __m512 r[16];
      for (int t = 0; t < 16; ++t) {
        if (t >= rows) {
          r[t] = _mm512_setzero_ps();
          continue;
        }
        int64_t at = (i0 + g + t) * m.rs + k0 + k;
        prefetch<Bf16>(m.data, at + 16 * m.rs, 32);
        if constexpr (Bf16) {
          r[t] = _mm512_castsi512_ps(
              _mm512_maskz_loadu_epi16(mask32(kk), static_cast<const uint16_t*>(m.data) + at));
        } else {
          __m512 lo = load16<false>(m.data, at, mask16(kk)),
                 hi = load16<false>(m.data, at + 16, mask16(kk - 16));
          r[t] = _mm512_castsi512_ps((__m512i)_mm512_cvtne2ps_pbh(hi, lo));
        }
      }
      transpose16(r);
      for (int t = 0; t < (kk + 1) / 2; ++t)
        _mm512_mask_storeu_ps(dst + (k / 2 + t) * width + g, wmask, r[t]);
    }
  }
}

// Contiguous along the panels (rs == 1): rows k and k + 1, 16 lanes each, rounded and interleaved.
template <bool Bf16>
PURELM_AVX512_BF16 void pairs_straight(const Mat& m, int64_t i0, int n, int64_t k0, int64_t kc,
                                       int width, float* dst) {
  // Lane j of the result takes 16-bit element j/2 of row k (j even) or of row k + 1 (j odd).
  alignas(64) static constexpr uint16_t kZip[32] = {0,  16, 1,  17, 2,  18, 3,  19, 4,  20, 5,
                                                    21, 6,  22, 7,  23, 8,  24, 9,  25, 10, 26,
                                                    11, 27, 12, 28, 13, 29, 14, 30, 15, 31};
  const __m512i zip = _mm512_load_si512(kZip);
  const int64_t floats = (kc + 1) / 2 * width;
  for (int64_t k = 0; k < kc; k += 2, dst += width) {
    prefetch<Bf16>(m.data, (k0 + k + kAhead) * m.cs + i0, n);
    prefetch<Bf16>(m.data, (k0 + k + kAhead + 1) * m.cs + i0, n);
    for (int64_t p = 0; p * width < n; ++p)
      for (int g = 0; g < width; g += 16) {
        int64_t col = p * width + g;
        __mmask16 nm = mask16(std::min<int64_t>(n - col, width - g));
        __m512 r0 = load16<Bf16>(m.data, (k0 + k) * m.cs + i0 + col, nm);
        __m512 r1 = k + 1 < kc ? load16<Bf16>(m.data, (k0 + k + 1) * m.cs + i0 + col, nm)
                               : _mm512_setzero_ps();
        __m512i both = (__m512i)_mm512_cvtne2ps_pbh(r1, r0);
        _mm512_mask_storeu_ps(dst + p * floats + g, mask16(width - g),
                              _mm512_castsi512_ps(_mm512_permutexvar_epi16(zip, both)));
      }
  }
}

void pack_pairs(const Mat& m, int64_t i0, int n, int64_t k0, int64_t kc, int width, float* dst) {
  if (m.cs == 1) {
    each_panel(i0, n, width, (kc + 1) / 2 * width, dst, [&](int64_t i, int rows, float* d) {
      if (m.bf16)
        pairs_transposed<true>(m, i, rows, k0, kc, width, d);
      else
        pairs_transposed<false>(m, i, rows, k0, kc, width, d);
    });
  } else if (m.rs == 1) {
    if (m.bf16)
      pairs_straight<true>(m, i0, n, k0, kc, width, dst);
    else
      pairs_straight<false>(m, i0, n, k0, kc, width, dst);
  } else {
    pack_pairs_portable(m, i0, n, k0, kc, width, dst);
  }
}

}  // namespace

const Backend& avx512_backend() {
  static const Backend b{kMr, kNr, 1, kMc, kKc, kNc, pack, kernel, gemv_avx512};
  return b;
}

const Backend& avx512_bf16_backend() {
  static const Backend b{kMr, kNr, 2, kMc, kKcPairs, kNc, pack_pairs, kernel_bf16, nullptr};
  return b;
}

}  // namespace purelm::kernels
