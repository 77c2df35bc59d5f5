// NEON GEMM for aarch64: an 8 x 12 microkernel (24 of the 32 vector registers accumulate; per step
// two loads of A and three of B feed 24 FMAs by element, fmla v.4s, v.4s, v.s[l]), packing by 4 x 4
// in-register transposes that widen bf16 as they load, and the few-rows product that streams B
// (decode), bf16 B widened in registers by a shift.
#include <arm_neon.h>

#include <algorithm>

#include "purelm/ops/kernels/backend.h"

namespace purelm::kernels {

namespace {

constexpr int kMr = 8, kNr = 12;
// A 256 x 12 panel of B (12 KB) stays in L1 (64 KB on Neoverse V1, 128 KB on Apple M2) while the
// microkernel walks a 128 x 256 block of A (128 KB) in L2; a 2040-column block of B (2 MB) in
// L2/L3. Not measured on an ARM machine yet: the AVX2 backend's proportions.
constexpr int64_t kMc = 16 * kMr, kKc = 256, kNc = 170 * kNr;

// C row r (4 columns at a time) += acc by lane l of a.
#define PURELM_ROW(r, av, l)                         \
  acc[r][0] = vfmaq_laneq_f32(acc[r][0], b0, av, l); \
  acc[r][1] = vfmaq_laneq_f32(acc[r][1], b1, av, l); \
  acc[r][2] = vfmaq_laneq_f32(acc[r][2], b2, av, l)

// The whole tile is computed (rows of A past m are zero in the panel); only its m x n corner is
// stored.
void kernel(int64_t steps, const float* a, const float* b, float* c, int64_t ldc, int m, int n,
            bool accumulate) {
  float32x4_t acc[kMr][3];
#pragma GCC unroll 24
  for (int q = 0; q < kMr * 3; ++q) acc[q / 3][q % 3] = vdupq_n_f32(0);
#pragma GCC unroll 2
  for (int64_t k = 0; k < steps; ++k, a += kMr, b += kNr) {
    const float32x4_t a0 = vld1q_f32(a), a1 = vld1q_f32(a + 4);
    const float32x4_t b0 = vld1q_f32(b), b1 = vld1q_f32(b + 4), b2 = vld1q_f32(b + 8);
    PURELM_ROW(0, a0, 0);
    PURELM_ROW(1, a0, 1);
    PURELM_ROW(2, a0, 2);
    PURELM_ROW(3, a0, 3);
    PURELM_ROW(4, a1, 0);
    PURELM_ROW(5, a1, 1);
    PURELM_ROW(6, a1, 2);
    PURELM_ROW(7, a1, 3);
  }
  if (m == kMr && n == kNr) {
#pragma GCC unroll 8
    for (int r = 0; r < kMr; ++r) {
      float* cr = c + r * ldc;
#pragma GCC unroll 3
      for (int q = 0; q < 3; ++q)
        vst1q_f32(cr + 4 * q, accumulate ? vaddq_f32(vld1q_f32(cr + 4 * q), acc[r][q]) : acc[r][q]);
    }
    return;
  }
  float t[kMr][kNr];  // an edge of C: through a buffer
#pragma GCC unroll 24
  for (int q = 0; q < kMr * 3; ++q) vst1q_f32(t[q / 3] + 4 * (q % 3), acc[q / 3][q % 3]);
  for (int r = 0; r < m; ++r)
    for (int j = 0; j < n; ++j) c[r * ldc + j] = (accumulate ? c[r * ldc + j] : 0.0f) + t[r][j];
}

#undef PURELM_ROW

// Four values of row p (float32, or bf16 widened by a shift into the upper half of each lane);
// `count` below 4 reads only that many, the rest zero.
template <bool Bf16>
inline float32x4_t load4(const void* p, int count) {
  if (count == 4) {
    if constexpr (Bf16)
      return vreinterpretq_f32_u32(vshll_n_u16(vld1_u16(static_cast<const uint16_t*>(p)), 16));
    else
      return vld1q_f32(static_cast<const float*>(p));
  }
  float v[4] = {};
  for (int t = 0; t < count; ++t)
    v[t] = Bf16 ? to_f32(static_cast<const bf16*>(p)[t]) : static_cast<const float*>(p)[t];
  return vld1q_f32(v);
}

// Operand k-contiguous (cs == 1): 4 rows x 4 k at a time, transposed in registers (zip of pairs of
// lanes, then of pairs of pairs).
template <bool Bf16>
void pack_transposed(const Mat& m, int64_t i0, int n, int64_t k0, int64_t kc, int width,
                     float* dst) {
  const int64_t esize = Bf16 ? 2 : 4;
  const char* base = static_cast<const char*>(m.data);
  for (int g = 0; g < width; g += 4) {
    for (int64_t k = 0; k < kc; k += 4) {
      const int kk = int(std::min<int64_t>(4, kc - k));
      float32x4_t r[4];
      for (int t = 0; t < 4; ++t)
        r[t] = g + t < n ? load4<Bf16>(base + ((i0 + g + t) * m.rs + k0 + k) * esize, kk)
                         : vdupq_n_f32(0);
      const float32x4_t p0 = vtrn1q_f32(r[0], r[1]), p1 = vtrn2q_f32(r[0], r[1]),
                        p2 = vtrn1q_f32(r[2], r[3]), p3 = vtrn2q_f32(r[2], r[3]);
      const float32x4_t col[4] = {
          vreinterpretq_f32_f64(vtrn1q_f64(vreinterpretq_f64_f32(p0), vreinterpretq_f64_f32(p2))),
          vreinterpretq_f32_f64(vtrn1q_f64(vreinterpretq_f64_f32(p1), vreinterpretq_f64_f32(p3))),
          vreinterpretq_f32_f64(vtrn2q_f64(vreinterpretq_f64_f32(p0), vreinterpretq_f64_f32(p2))),
          vreinterpretq_f32_f64(vtrn2q_f64(vreinterpretq_f64_f32(p1), vreinterpretq_f64_f32(p3)))};
      for (int t = 0; t < kk; ++t) vst1q_f32(dst + (k + t) * width + g, col[t]);
    }
  }
}

// Operand contiguous along the panels (rs == 1): a straight copy per k.
template <bool Bf16>
void pack_straight(const Mat& m, int64_t i0, int n, int64_t k0, int64_t kc, int width, float* dst) {
  const int64_t esize = Bf16 ? 2 : 4;
  const char* base = static_cast<const char*>(m.data);
  for (int64_t k = 0; k < kc; ++k, dst += width)
    for (int64_t p = 0; p * width < n; ++p)
      for (int g = 0; g < width; g += 4) {
        const int64_t col = p * width + g;
        const int count = int(std::clamp<int64_t>(n - col, 0, 4));
        vst1q_f32(dst + p * kc * width + g,
                  count ? load4<Bf16>(base + ((k0 + k) * m.cs + i0 + col) * esize, count)
                        : vdupq_n_f32(0));
      }
}

constexpr PackFn pack = pack_by_layout<pack_transposed<false>, pack_transposed<true>,
                                       pack_straight<false>, pack_straight<true>>;

// Eight values of B's row at p as two float32 vectors.
template <bool Bf16>
inline void load8(const void* p, float32x4_t& lo, float32x4_t& hi) {
  if constexpr (Bf16) {
    const uint16x8_t v = vld1q_u16(static_cast<const uint16_t*>(p));
    lo = vreinterpretq_f32_u32(vshll_n_u16(vget_low_u16(v), 16));
    hi = vreinterpretq_f32_u32(vshll_high_n_u16(v, 16));
  } else {
    lo = vld1q_f32(static_cast<const float*>(p));
    hi = vld1q_f32(static_cast<const float*>(p) + 4);
  }
}

// C[0:M, j:j+R] from M rows of A and R rows of B; M * R independent FMA chains, 8 elements of K per
// step. Each row prefetches the line 2R rows ahead (a decode matrix's rows are short, 2-12 KB).
template <int M, int R, bool Bf16>
void rows(int64_t j, int64_t K, const float* a, int64_t lda, const Mat& b, float* c, int64_t ldc,
          bool accumulate) {
  const int64_t esize = Bf16 ? 2 : 4;
  const char* w = static_cast<const char*>(b.data) + j * b.rs * esize;
  float32x4_t s[M][R];
#pragma GCC unroll 16
  for (int q = 0; q < M * R; ++q) s[q / R][q % R] = vdupq_n_f32(0);
  const int64_t whole = K / 8 * 8;
  for (int64_t k = 0; k < whole; k += 8) {
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const char* p = w + (r * b.rs + k) * esize;
      if (k % (64 / esize) == 0) __builtin_prefetch(p + 2 * R * b.rs * esize);
      float32x4_t lo, hi;
      load8<Bf16>(p, lo, hi);
#pragma GCC unroll 4
      for (int i = 0; i < M; ++i)
        s[i][r] = vfmaq_f32(vfmaq_f32(s[i][r], vld1q_f32(a + i * lda + k), lo),
                            vld1q_f32(a + i * lda + k + 4), hi);
    }
  }
  float tail[M][R] = {};
  for (int64_t k = whole; k < K; ++k)
    for (int r = 0; r < R; ++r) {
      const int64_t at = (j + r) * b.rs + k;
      const float v = Bf16 ? to_f32(static_cast<const bf16*>(b.data)[at])
                           : static_cast<const float*>(b.data)[at];
      for (int i = 0; i < M; ++i) tail[i][r] += a[i * lda + k] * v;
    }
  for (int i = 0; i < M; ++i)
    for (int r = 0; r < R; ++r) {
      float* ci = c + i * ldc + j + r;
      *ci = (accumulate ? *ci : 0.0f) + (vaddvq_f32(s[i][r]) + tail[i][r]);
    }
}

// Rows of B per call: M * R accumulators leave registers for A's and B's vectors.
template <int M>
constexpr int kRowsOfB = M == 1   ? 8
                         : M == 2 ? 4
                                  : 2;

template <int M, bool Bf16>
void span(int64_t n0, int64_t n1, int64_t K, const float* a, int64_t lda, const Mat& b, float* c,
          int64_t ldc, bool accumulate) {
  constexpr int R = kRowsOfB<M>;
  int64_t j = n0;
  for (; j + R <= n1; j += R) rows<M, R, Bf16>(j, K, a, lda, b, c, ldc, accumulate);
  for (; j < n1; ++j) rows<M, 1, Bf16>(j, K, a, lda, b, c, ldc, accumulate);
}

template <int M>
void span(int64_t n0, int64_t n1, int64_t K, const float* a, int64_t lda, const Mat& b, float* c,
          int64_t ldc, bool accumulate) {
  if (b.bf16)
    span<M, true>(n0, n1, K, a, lda, b, c, ldc, accumulate);
  else
    span<M, false>(n0, n1, K, a, lda, b, c, ldc, accumulate);
}

void gemv(int M, int64_t n0, int64_t n1, int64_t K, const float* a, int64_t lda, const Mat& b,
          float* c, int64_t ldc, bool accumulate) {
  with_rows(M, [&](auto m) { span<m()>(n0, n1, K, a, lda, b, c, ldc, accumulate); });
}

}  // namespace

const Backend& neon_backend() {
  static const Backend b{kMr, kNr, 1, kMc, kKc, kNc, pack, kernel, gemv};
  return b;
}

}  // namespace purelm::kernels
