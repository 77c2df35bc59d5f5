// Counter-based random numbers: every draw is a pure function of (seed, stream, counter), so the
// result does not depend on thread count or call order, and a resumed run replays the same draws.
#pragma once

#include <cstdint>
#include <string_view>

namespace purelm {

// splitmix64's finaliser: a bijective mix with full avalanche.
inline uint64_t mix64(uint64_t x) {
  x += 0x9e3779b97f4a7c15ull;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ull;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebull;
  return x ^ (x >> 31);
}

inline uint64_t random_u64(uint64_t seed, uint64_t stream, uint64_t counter) {
  return mix64(mix64(mix64(seed) ^ stream) ^ counter);
}

// Uniform in [0, n) without modulo bias worth mentioning (n << 2^64).
inline uint64_t random_below(uint64_t n, uint64_t seed, uint64_t stream, uint64_t counter) {
  return uint64_t((unsigned __int128)random_u64(seed, stream, counter) * n >> 64);
}

// Uniform in (0, 1): 53 random bits, never exactly 0 (Box-Muller takes its log).
inline double random_open01(uint64_t seed, uint64_t stream, uint64_t counter) {
  return (double(random_u64(seed, stream, counter) >> 11) + 0.5) * 0x1.0p-53;
}

// A stream id from a name (FNV-1a), e.g. one stream per weight tensor.
inline uint64_t stream_of(std::string_view name) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (unsigned char c : name) h = (h ^ c) * 0x100000001b3ull;
  return h;
}

}  // namespace purelm
