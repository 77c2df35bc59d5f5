// Plain C++ kernels for CPUs without AVX2; the compiler vectorises them with the baseline ISA.
#include <algorithm>
#include <cstring>
#include <vector>

#include "purelm/ops/kernels/backend.h"

namespace purelm::kernels {

namespace {

constexpr int kMr = 4, kNr = 16;

inline float element(const Mat& m, int64_t i, int64_t k) {
  int64_t at = i * m.rs + k * m.cs;
  return m.bf16 ? to_f32(static_cast<const bf16*>(m.data)[at])
                : static_cast<const float*>(m.data)[at];
}

void kernel(int64_t steps, const float* a, const float* b, float* c, int64_t ldc, int m, int n,
            bool accumulate) {
  float acc[kMr][kNr] = {};
  for (int64_t k = 0; k < steps; ++k, a += kMr, b += kNr)
    for (int r = 0; r < kMr; ++r)
      for (int j = 0; j < kNr; ++j) acc[r][j] += a[r] * b[j];
  for (int r = 0; r < m; ++r)
    for (int j = 0; j < n; ++j) c[r * ldc + j] = (accumulate ? c[r * ldc + j] : 0.0f) + acc[r][j];
}

void gemv(int M, int64_t n0, int64_t n1, int64_t K, const float* a, int64_t lda, const Mat& b,
          float* c, int64_t ldc, bool accumulate) {
  std::vector<float> row(static_cast<size_t>(K));
  for (int64_t j = n0; j < n1; ++j) {
    for (int64_t k = 0; k < K; ++k) row[k] = element(b, j, k);
    for (int i = 0; i < M; ++i) {
      // Eight partial sums, so the compiler may keep them in a vector register.
      float part[8] = {}, s = 0;
      int64_t k = 0;
      for (; k + 8 <= K; k += 8)
        for (int l = 0; l < 8; ++l) part[l] += a[i * lda + k + l] * row[k + l];
      for (; k < K; ++k) s += a[i * lda + k] * row[k];
      for (float p : part) s += p;
      c[i * ldc + j] = (accumulate ? c[i * ldc + j] : 0.0f) + s;
    }
  }
}

}  // namespace

void pack_portable(const Mat& m, int64_t i0, int n, int64_t k0, int64_t kc, int width, float* dst) {
  for (int p = 0; p * width < n; ++p)
    for (int64_t k = 0; k < kc; ++k, dst += width)
      for (int i = 0; i < width; ++i) {
        int64_t row = int64_t(p) * width + i;
        dst[i] = row < n ? element(m, i0 + row, k0 + k) : 0.0f;
      }
}

void pack_pairs_portable(const Mat& m, int64_t i0, int n, int64_t k0, int64_t kc, int width,
                         float* dst) {
  for (int p = 0; p * width < n; ++p)
    for (int64_t k = 0; k < kc; k += 2, dst += width)
      for (int i = 0; i < width; ++i) {
        int64_t row = int64_t(p) * width + i;
        auto half = [&](int64_t kk) -> uint32_t {
          return row < n && kk < kc ? to_bf16(element(m, i0 + row, k0 + kk)).bits : 0;
        };
        uint32_t pair = half(k) | half(k + 1) << 16;
        std::memcpy(dst + i, &pair, 4);
      }
}

const Backend& portable_backend() {
  static const Backend b{kMr, kNr, 1, 128, 256, 2048, pack_portable, kernel, gemv};
  return b;
}

}  // namespace purelm::kernels
