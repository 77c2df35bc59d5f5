// Small AVX2 + FMA helpers shared by the AVX2 kernel files. Static, so that no out-of-line copy
// compiled for AVX2 can be picked by the linker for code that runs on other CPUs.
#pragma once

// GCC 12's intrinsics start from a deliberately undefined register, which -W(maybe-)uninitialized
// reports once they are inlined (as in avx512_util.h, whichever of the two is included first).
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <immintrin.h>
#pragma GCC diagnostic pop

#include <algorithm>
#include <cstdint>
#include <cstring>

#define PURELM_AVX2 __attribute__((target("avx2,fma,f16c")))

namespace purelm::kernels::avx2 {

// The lanes [0, n) of 8 (n clamped to 0..8), for masked loads and stores.
PURELM_AVX2 static inline __m256i mask8(int64_t n) {
  const __m256i lanes = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  return _mm256_cmpgt_epi32(_mm256_set1_epi32(int(std::clamp<int64_t>(n, 0, 8))), lanes);
}

// 8 bf16 at p widened to float32 (bf16 is the upper half of a float).
PURELM_AVX2 static inline __m256 widen8(const uint16_t* p) {
  const __m128i h = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_cvtepu16_epi32(h), 16));
}

// Elements [at, at + n) of an operand's memory (n <= 8) as float32, the lanes past n zero: a
// whole vector when n is 8, else through a zeroed buffer (no masked 16-bit loads in AVX2).
template <bool Bf16>
PURELM_AVX2 static inline __m256 load8(const void* data, int64_t at, int n) {
  if constexpr (Bf16) {
    const uint16_t* p = static_cast<const uint16_t*>(data) + at;
    if (n >= 8) return widen8(p);
    alignas(16) uint16_t t[8] = {};
    if (n > 0) std::memcpy(t, p, size_t(n) * 2);
    return widen8(t);
  } else {
    const float* p = static_cast<const float*>(data) + at;
    if (n >= 8) return _mm256_loadu_ps(p);
    return _mm256_maskload_ps(p, mask8(n));
  }
}

// The first n lanes of v at p. `room`: the 8 floats from p may be written (what lies past n is
// written again later), which spares a masked store (microcoded, and slow, on Zen 3).
PURELM_AVX2 static inline void store8(float* p, __m256 v, int n, bool room) {
  if (n >= 8 || room) {
    _mm256_storeu_ps(p, v);
  } else {
    alignas(32) float t[8];
    _mm256_store_ps(t, v);
    std::memcpy(p, t, size_t(n) * 4);
  }
}

// In place: r[j] lane i becomes the old r[i] lane j.
PURELM_AVX2 static inline void transpose8(__m256 r[8]) {
  __m256 t[8], u[8];
  for (int i = 0; i < 8; i += 2) {
    t[i] = _mm256_unpacklo_ps(r[i], r[i + 1]);
    t[i + 1] = _mm256_unpackhi_ps(r[i], r[i + 1]);
  }
  for (int i = 0; i < 8; i += 4) {
    u[i] = _mm256_shuffle_ps(t[i], t[i + 2], 0x44);
    u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], 0xee);
    u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0x44);
    u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], 0xee);
  }
  for (int i = 0; i < 4; ++i) {
    r[i] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x20);
    r[i + 4] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x31);
  }
}

// The sum of the 8 lanes.
PURELM_AVX2 static inline float hsum(__m256 v) {
  __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  s = _mm_add_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_add_ss(s, _mm_movehdup_ps(s)));
}

}  // namespace purelm::kernels::avx2
