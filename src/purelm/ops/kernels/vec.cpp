#include "purelm/ops/kernels/vec.h"

#include <bit>
#include <cmath>

namespace purelm::kernels {

// On aarch64 NEON is the baseline, which -O3 vectorises these loops for: one version.
#if defined(__x86_64__)
#define PURELM_MULTIVERSION __attribute__((target_clones("avx512f", "avx2", "default")))
#else
#define PURELM_MULTIVERSION
#endif

inline float value(float x) { return x; }
inline float value(bf16 x) { return std::bit_cast<float>(uint32_t(x.bits) << 16); }

// The sum of 16 partial sums, halving: shuffles of one vector rather than a chain of 16 adds.
[[gnu::always_inline]] inline float halving_sum(float (&acc)[16]) {
  for (int w = 8; w >= 1; w /= 2)
    for (int l = 0; l < w; ++l) acc[l] += acc[l + w];
  return acc[0];
}

// Sixteen independent accumulators let the compiler keep a whole vector register of partial sums.
template <class B>
[[gnu::always_inline]] inline float dot_of(const float* a, const B* b, int64_t n) {
  float acc[16] = {};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int j = 0; j < 16; ++j) acc[j] += a[i + j] * value(b[i + j]);
  float s = halving_sum(acc);
  for (; i < n; ++i) s += a[i] * value(b[i]);
  return s;
}

// Rows of b are usually apart in memory (a KV cache's keys of one head, [S, K, H]) and not in
// cache: each group of four prefetches the rows two groups on.
template <class B>
[[gnu::always_inline]] inline void dots_of(const float* a, const B* b, int64_t ldb, int64_t m,
                                           int64_t n, float* y) {
  int64_t j = 0;
  for (; j + 4 <= m; j += 4) {
    const B* r0 = b + j * ldb;
    for (int r = 8; r < 12; ++r)
      for (int64_t at = 0; at < n * int64_t(sizeof(B)); at += 64)
        __builtin_prefetch(reinterpret_cast<const char*>(r0 + r * ldb) + at);
    float acc[4][16] = {};
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
      for (int r = 0; r < 4; ++r)
        for (int l = 0; l < 16; ++l) acc[r][l] += a[i + l] * value(r0[r * ldb + i + l]);
    for (int r = 0; r < 4; ++r) {
      float s = halving_sum(acc[r]);
      for (int64_t t = i; t < n; ++t) s += a[t] * value(r0[r * ldb + t]);
      y[j + r] = s;
    }
  }
  for (; j < m; ++j) y[j] = dot_of(a, b + j * ldb, n);
}

PURELM_MULTIVERSION float dot(const float* a, const float* b, int64_t n) { return dot_of(a, b, n); }

PURELM_MULTIVERSION void dots(const float* a, const float* b, int64_t ldb, int64_t m, int64_t n,
                              float* y) {
  dots_of(a, b, ldb, m, n, y);
}

PURELM_MULTIVERSION void dots(const float* a, const bf16* b, int64_t ldb, int64_t m, int64_t n,
                              float* y) {
  dots_of(a, b, ldb, m, n, y);
}

PURELM_MULTIVERSION float dot(const float* a, const bf16* b, int64_t n) { return dot_of(a, b, n); }

PURELM_MULTIVERSION void axpy(float a, const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

PURELM_MULTIVERSION void add(const float* a, const float* b, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = a[i] + b[i];
}

PURELM_MULTIVERSION void widen(const bf16* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = value(src[i]);
}

// to_bf16 of dtype.h written with selects, so that it vectorises: the upper 16 bits of the rounded
// value (NaNs quieted), in the lower half of the result.
inline uint32_t bf16_bits(float f) {
  uint32_t u = std::bit_cast<uint32_t>(f);
  uint32_t rounded = (u + 0x7fffu + ((u >> 16) & 1u)) >> 16, quiet = (u >> 16) | 0x40u;
  return (u & 0x7fffffffu) > 0x7f800000u ? quiet : rounded;
}

PURELM_MULTIVERSION void narrow(const float* src, bf16* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i].bits = uint16_t(bf16_bits(src[i]));
}

PURELM_MULTIVERSION void interleave(const bf16* lo, const bf16* hi, uint32_t* dst, int64_t n) {
  if (!hi) {
    for (int64_t i = 0; i < n; ++i) dst[i] = lo[i].bits;
    return;
  }
  for (int64_t i = 0; i < n; ++i) dst[i] = uint32_t(lo[i].bits) | uint32_t(hi[i].bits) << 16;
}

PURELM_MULTIVERSION float max_of(const float* x, int64_t n) {
  float acc[16];
  for (float& a : acc) a = x[0];
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int j = 0; j < 16; ++j) acc[j] = x[i + j] > acc[j] ? x[i + j] : acc[j];
  for (int w = 8; w >= 1; w /= 2)
    for (int l = 0; l < w; ++l) acc[l] = acc[l + w] > acc[l] ? acc[l + w] : acc[l];
  for (; i < n; ++i) acc[0] = x[i] > acc[0] ? x[i] : acc[0];
  return acc[0];
}

PURELM_MULTIVERSION double sum_squares(const float* x, int64_t n) {
  double acc[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) acc[j] += double(x[i + j]) * x[i + j];
  double s = 0;
  for (int j = 0; j < 8; ++j) s += acc[j];
  for (; i < n; ++i) s += double(x[i]) * x[i];
  return s;
}

PURELM_MULTIVERSION double sum_products(const float* a, const float* b, const float* c, int64_t n) {
  double acc[8] = {};
  int64_t i = 0;
  for (; i + 8 <= n; i += 8)
    for (int j = 0; j < 8; ++j) acc[j] += double(a[i + j]) * b[i + j] * c[i + j];
  double s = 0;
  for (int j = 0; j < 8; ++j) s += acc[j];
  for (; i < n; ++i) s += double(a[i]) * b[i] * c[i];
  return s;
}

PURELM_MULTIVERSION void scale_mul(const float* x, float s, const float* w, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] * s * w[i];
}

PURELM_MULTIVERSION void rmsnorm_backward(const float* dy, const float* x, const float* w, float s,
                                          float c, float* dw, float* dx, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dw[i] += dy[i] * x[i] * s;
  if (dx)
    for (int64_t i = 0; i < n; ++i) dx[i] += dy[i] * w[i] * s - x[i] * c;
}

// The inverse's a c + b s is exactly a c - b (-s): negation is exact.
PURELM_MULTIVERSION void rotate_halves(float* v, const float* c, const float* s, int64_t half,
                                       bool inverse) {
  float* u = v + half;
  if (inverse) {
    for (int64_t i = 0; i < half; ++i) {
      float a = v[i], b = u[i];
      v[i] = a * c[i] + b * s[i];
      u[i] = b * c[i] - a * s[i];
    }
  } else {
    for (int64_t i = 0; i < half; ++i) {
      float a = v[i], b = u[i];
      v[i] = a * c[i] - b * s[i];
      u[i] = b * c[i] + a * s[i];
    }
  }
}

PURELM_MULTIVERSION void adamw(float* w, float* m, float* v, const float* g, int64_t n, float decay,
                               float b1, float b2, float step, float inv_sqrt_bc2, float eps) {
  for (int64_t j = 0; j < n; ++j) {
    w[j] *= decay;
    m[j] = b1 * m[j] + (1 - b1) * g[j];
    v[j] = b2 * v[j] + (1 - b2) * g[j] * g[j];
    w[j] -= step * m[j] / (std::sqrt(v[j]) * inv_sqrt_bc2 + eps);
  }
}

PURELM_MULTIVERSION void round_to_bf16(const float* src, float* dst, int64_t n) {
  for (int64_t i = 0; i < n; ++i) dst[i] = std::bit_cast<float>(bf16_bits(src[i]) << 16);
}

PURELM_MULTIVERSION void hash_dropout(float* w, int64_t n, uint32_t base, int64_t j0,
                                      uint32_t threshold, float keep) {
  for (int64_t j = 0; j < n; ++j) {
    uint32_t x = base + uint32_t(j0 + j) * 0x9E3779B9u;
    x = (x ^ (x >> 16)) * 0x85EBCA6Bu;
    x = (x ^ (x >> 13)) * 0xC2B2AE35u;
    x ^= x >> 16;
    w[j] = x >= threshold ? w[j] * keep : 0.0f;
  }
}

namespace {

// exp(x) = 2^k exp(r) with k = round(x / ln 2) and |r| <= ln(2) / 2, ln 2 split in two parts so
// that r is exact; exp(r) by its degree-6 Taylor polynomial; 2^k built in the exponent bits.
inline float exp_poly(float x) {
  // Clamping keeps k in range (and maps -inf, e.g. masked scores, to 0 below); written as selects
  // so that they vectorise.
  x = x < -87.0f ? -87.0f : x;
  x = x > 88.0f ? 88.0f : x;
  float k = std::nearbyint(x * 1.44269504f);
  float r = x - k * 0.693145752f;
  r = r - k * 1.42860677e-6f;
  float p = 1.0f / 720;
  p = p * r + 1.0f / 120;
  p = p * r + 1.0f / 24;
  p = p * r + 1.0f / 6;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  float two_k = std::bit_cast<float>((static_cast<int32_t>(k) + 127) << 23);
  return x <= -87.0f ? 0.0f : p * two_k;
}

// 1 / (1 + exp(-z)); exp_poly's clamp keeps it finite (0 below z = -88).
inline float sigmoid(float z) { return 1.0f / (1.0f + exp_poly(-z)); }

}  // namespace

PURELM_MULTIVERSION void swiglu(const float* g, const float* u, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] = g[i] * sigmoid(g[i]) * u[i];
}

PURELM_MULTIVERSION void swiglu_backward(const float* g, const float* u, const float* dy, float* dg,
                                         float* du, int64_t n) {
  for (int64_t i = 0; i < n; ++i) {
    float z = g[i], s = sigmoid(z);
    du[i] = dy[i] * z * s;
    dg[i] = dy[i] * u[i] * s * (1 + z * (1 - s));
  }
}

PURELM_MULTIVERSION float exp_shifted(float* z, int64_t n, float shift, float scale) {
  float acc[16] = {};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16) {
    for (int j = 0; j < 16; ++j) {
      float e = exp_poly(z[i + j] - shift);
      acc[j] += e;
      z[i + j] = e * scale;
    }
  }
  float s = 0;
  for (int j = 0; j < 16; ++j) s += acc[j];
  for (; i < n; ++i) {
    float e = exp_poly(z[i] - shift);
    s += e;
    z[i] = e * scale;
  }
  return s;
}

}  // namespace purelm::kernels
