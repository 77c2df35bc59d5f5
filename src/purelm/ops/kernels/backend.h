// The parts of the GEMM that differ by instruction set; gemm.cpp drives them (BLIS-style: pack
// panels of A and B into contiguous buffers, then run a register-blocked microkernel over them).
#pragma once

#include <algorithm>
#include <functional>
#include <type_traits>

#include "purelm/ops/kernels/gemm.h"

namespace purelm::kernels {

// Products with at most kStreamRows rows of A stream B without packing it (decode, small batches),
// kGemvRows rows at a time.
constexpr int kGemvRows = 4, kStreamRows = 16;

// f(std::integral_constant<int, m>{}) for m = M rows of A, 1 to kGemvRows (the most a caller
// passes): each decode kernel takes its row count as a template parameter.
template <class F>
void with_rows(int M, const F& f) {
  static_assert(kGemvRows == 4);
  switch (M) {
    case 1:
      return f(std::integral_constant<int, 1>{});
    case 2:
      return f(std::integral_constant<int, 2>{});
    case 3:
      return f(std::integral_constant<int, 3>{});
    default:
      return f(std::integral_constant<int, 4>{});
  }
}

// How a backend packs operand rows [i0, i0 + n) over k in [k0, k0 + kc).
using PackFn = void (*)(const Mat& m, int64_t i0, int n, int64_t k0, int64_t kc, int width,
                        float* dst);

struct Backend {
  int mr, nr;          // register tile of C
  int kstep;           // elements of K per packed step: 1, or 2 for pairs of bf16
  int64_t mc, kc, nc;  // cache blocks; kc is counted in elements of K and is a multiple of kstep
  // Packs operand rows [i0, i0 + n) over k in [k0, k0 + kc) as ceil(n / width) panels, one after
  // the other: for each packed step, `width` values. Rows past n and pair halves past kc are zero.
  PackFn pack;
  // Tile C[m, n] (m <= mr, n <= nr) (+)= panel a (mr wide) * panel b (nr wide) over `steps`.
  void (*kernel)(int64_t steps, const float* a, const float* b, float* c, int64_t ldc, int m, int n,
                 bool accumulate);
  // C[M, n0:n1] (+)= A B^T for M <= kGemvRows: A float32, both operands k-contiguous (cs == 1).
  // Null when the backend only does pairs.
  void (*gemv)(int M, int64_t n0, int64_t n1, int64_t K, const float* a, int64_t lda, const Mat& b,
               float* c, int64_t ldc, bool accumulate);
};

// The same as Backend::gemv for bf16 A and bf16 B (both k-contiguous) on AVX512-BF16, with
// vdpbf16ps (exact products, float32 sums).
void gemv_pairs_avx512(int M, int64_t n0, int64_t n1, int64_t K, const bf16* a, int64_t lda,
                       const Mat& b, float* c, int64_t ldc, bool accumulate);

// C[0:M, 0:N] (M <= kStreamRows) as calls of a kernel over groups of at most kGemvRows rows of A
// (`i`, `m`) and ranges of rows of B ([n0, n1)), split over the threads. B, of `row_bytes` per row,
// is read from memory once: past kGemvRows rows of A it goes by blocks small enough to stay in L2
// while each group of rows passes over them.
using StreamKernel = std::function<void(int64_t i, int m, int64_t n0, int64_t n1)>;
void stream_rows(int64_t M, int64_t N, int64_t K, int64_t row_bytes, const StreamKernel& kernel);

// A's M rows (row stride lda, K long) split into their even and odd elements, [M, half] each
// one after the other, zero-padded to `half`: what the bf16 decode kernels multiply the two halves
// of B's 32-bit lanes by. The buffer is the calling thread's, kept between calls (a decode step
// makes hundreds).
const float* split_even_odd(int M, int64_t K, const float* a, int64_t lda, int64_t half);

const Backend& portable_backend();
const Backend& avx2_backend();
const Backend& avx512_backend();
const Backend& avx512_bf16_backend();  // products of bf16 pairs (any strides; rounds f32)
const Backend& neon_backend();

// Scalar packing of single elements (kstep 1) for any strides; the vector backends fall back to it.
void pack_portable(const Mat& m, int64_t i0, int n, int64_t k0, int64_t kc, int width, float* dst);

// A vector backend's pack (kstep 1) by the operand's layout and element type: each panel of rows
// contiguous along k (cs == 1) goes to Transposed, rows contiguous along the panels (rs == 1) to
// Straight whole, any other layout to pack_portable. A backend's Backend::pack is an instance of
// this over its own packing kernels.
template <PackFn TransposedF32, PackFn TransposedBf16, PackFn StraightF32, PackFn StraightBf16>
void pack_by_layout(const Mat& m, int64_t i0, int n, int64_t k0, int64_t kc, int width,
                    float* dst) {
  if (m.cs == 1) {
    const PackFn transposed = m.bf16 ? TransposedBf16 : TransposedF32;
    for (int p = 0; p * width < n; ++p)
      transposed(m, i0 + p * width, std::min(width, n - p * width), k0, kc, width,
                 dst + int64_t(p) * kc * width);
  } else if (m.rs == 1) {
    (m.bf16 ? StraightBf16 : StraightF32)(m, i0, n, k0, kc, width, dst);
  } else {
    pack_portable(m, i0, n, k0, kc, width, dst);
  }
}

// The same for pairs of bf16 (kstep 2), rounding float32 elements to nearest even.
void pack_pairs_portable(const Mat& m, int64_t i0, int n, int64_t k0, int64_t kc, int width,
                         float* dst);

}  // namespace purelm::kernels
