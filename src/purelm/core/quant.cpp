#include "purelm/core/quant.h"

#include <algorithm>
#include <bit>
#include <cmath>
#include <limits>

#include "purelm/core/error.h"

namespace purelm::quant {

// GCC function multi-versioning on x86; elsewhere one version (NEON is baseline on aarch64).
#if defined(__x86_64__)
#define PURELM_CLONES(...) __attribute__((target_clones(__VA_ARGS__)))
#else
#define PURELM_CLONES(...)
#endif

namespace {

// The smallest fp16 at or above a (a >= 0, finite), so that |x| / scale never exceeds the
// largest code.
uint16_t f16_at_least(float a) {
  uint16_t h = f32_to_f16(a);
  if (f16_to_f32(h) < a) ++h;  // positive fp16 bit patterns are ordered like their values
  if (h >= 0x7c00) fail("weight of magnitude ", a, " is too large to quantize");
  return h;
}

// Block b of row x, zero-padded to kBlock values.
void block_values(const float* x, int64_t n, int64_t b, float v[kBlock]) {
  int64_t k0 = b * kBlock, len = std::min(kBlock, n - k0);
  for (int64_t i = 0; i < kBlock; ++i) {
    v[i] = i < len ? x[k0 + i] : 0.0f;
    if (!std::isfinite(v[i])) fail("cannot quantize a weight that is not finite");
  }
}

void quantize_q8(const float v[kBlock], uint8_t* out) {
  float amax = 0;
  for (int i = 0; i < kBlock; ++i) amax = std::max(amax, std::fabs(v[i]));
  uint16_t h = f16_at_least(amax / 127);
  float d = f16_to_f32(h), inv = d > 0 ? 1 / d : 0;
  std::memcpy(out, &h, 2);
  for (int i = 0; i < kBlock; ++i)
    out[2 + i] = uint8_t(int8_t(std::clamp(std::nearbyint(v[i] * inv), -127.0f, 127.0f)));
}

void quantize_q4(const float v[kBlock], uint8_t* out) {
  float m = 0;
  for (int i = 0; i < kBlock; ++i)
    if (std::fabs(v[i]) > std::fabs(m)) m = v[i];
  uint16_t h = f16_at_least(std::fabs(m) / 8);
  if (m > 0) h |= 0x8000;  // d = -m / 8: m itself becomes code 0
  float d = f16_to_f32(h), inv = d != 0 ? 1 / d : 0;
  std::memcpy(out, &h, 2);
  auto code = [&](float x) {
    return uint8_t(std::clamp(std::nearbyint(x * inv), -8.0f, 7.0f) + 8);
  };
  for (int j = 0; j < kBlock / 2; ++j) out[2 + j] = uint8_t(code(v[j]) | code(v[j + 16]) << 4);
}

}  // namespace

void quantize_row(DType t, const float* x, int64_t n, void* dst) {
  check(is_quantized(t), "quantize_row: ", dtype_name(t), " is not a block type");
  uint8_t* out = static_cast<uint8_t*>(dst);
  float v[kBlock];
  for (int64_t b = 0; b < blocks(n); ++b, out += block_bytes(t)) {
    block_values(x, n, b, v);
    t == DType::Q8 ? quantize_q8(v, out) : quantize_q4(v, out);
  }
}

// Compiled for AVX-512, AVX2 and baseline x86-64 and chosen at run time (GCC function
// multi-versioning): it runs before every quantized product of a decode step. The variants do the
// same operations, so they give the same codes.
PURELM_CLONES("avx512f", "avx2", "default")
void quantize_activations(const float* x, int64_t n, int8_t* q, float* d) {
  // Adding and taking away 1.5 * 2^23 rounds |v| <= 127 to the nearest integer (ties to even, like
  // nearbyint) without a call. The largest magnitude is the largest of the bit patterns without
  // their sign (ordered like the values, infinities and NaNs above all finite ones): an integer
  // maximum, which vectorises where a float one would need -ffast-math.
  constexpr float kRound = 12582912.0f;
  constexpr uint32_t kInf = 0x7f800000u;
  float v[kBlock];
  for (int64_t b = 0; b < blocks(n); ++b) {
    const int64_t k0 = b * kBlock, len = std::min(kBlock, n - k0);
    for (int64_t i = 0; i < kBlock; ++i) v[i] = i < len ? x[k0 + i] : 0.0f;
    uint32_t top = 0;
    for (int i = 0; i < kBlock; ++i)
      top = std::max(top, std::bit_cast<uint32_t>(v[i]) & ~0x80000000u);
    const float amax = std::bit_cast<float>(top);
    const bool finite = top < kInf, zero = !finite || amax < std::numeric_limits<float>::min();
    d[b] = !finite ? std::numeric_limits<float>::quiet_NaN() : zero ? 0.0f : amax / 127;
    if (zero) {
      std::fill(q + k0, q + k0 + kBlock, int8_t(0));
      continue;
    }
    const float inv = 127 / amax;
    for (int i = 0; i < kBlock; ++i) q[k0 + i] = int8_t((v[i] * inv + kRound) - kRound);
  }
}

// Multi-versioned like quantize_activations: prefill decodes every weight it multiplies. Whole
// blocks are written in place, in loops without branches that vectorise.
PURELM_CLONES("avx2", "default")
void dequantize_row(DType t, const void* src, int64_t n, float* y) {
  const uint8_t* in = static_cast<const uint8_t*>(src);
  float part[kBlock];
  for (int64_t k0 = 0; k0 < n; k0 += kBlock, in += block_bytes(t)) {
    const float d = f16_to_f32(scale_bits(in));
    const int64_t len = std::min(kBlock, n - k0);
    float* out = len == kBlock ? y + k0 : part;
    if (t == DType::Q8) {
      for (int i = 0; i < kBlock; ++i) out[i] = d * float(int8_t(in[2 + i]));
    } else {
      for (int i = 0; i < kBlock / 2; ++i) {
        out[i] = d * float((in[2 + i] & 15) - 8);
        out[i + kBlock / 2] = d * float((in[2 + i] >> 4) - 8);
      }
    }
    if (out == part) std::copy_n(part, len, y + k0);
  }
}

}  // namespace purelm::quant
