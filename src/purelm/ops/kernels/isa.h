// Which instruction-set features the kernels use: a set read once from the CPU, which a level
// (named below) caps. PURELM_ISA=<level> caps every command at run time (e.g. to measure the AVX2
// path on an AVX-512 host); tests force each level the machine has.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace purelm::kernels {

enum Feature : uint32_t {
  kAvx2 = 1u << 0,        // AVX2 with FMA and F16C
  kAvxVnni = 1u << 1,     // vpdpbusd on ymm (VEX), e.g. Intel client cores since Alder Lake
  kAvx512 = 1u << 2,      // AVX-512 F, BW and VL
  kAvx512Vnni = 1u << 3,  // vpdpbusd on zmm
  kAvx512Bf16 = 1u << 4,  // vdpbf16ps
  kNeon = 1u << 5,        // aarch64's Advanced SIMD (every aarch64 CPU)
  kDotProd = 1u << 6,     // sdot/udot (Armv8.2 dot product: Apple M1, Neoverse N1 and later)
  kBf16 = 1u << 7,        // bfdot/bfmmla (Armv8.6 BF16: Apple M2, Neoverse V1 and later)
};
using Features = uint32_t;

// A named set of features, as CPUs have them.
struct Level {
  const char* name;
  Features features;
};
// Those of this architecture, each the features of a kind of CPU: on x86-64 portable, avx2,
// avx2-vnni, avx512, avx512-vnni, avx512-bf16; on aarch64 portable, neon, neon-dotprod, neon-bf16.
std::span<const Level> levels();
const Level* find_level(std::string_view name);  // null when there is none of that name

Features cpu_features();  // what this CPU has
Features features();      // what the kernels use now: the CPU's, capped by PURELM_ISA
inline bool has(Features f) { return (features() & f) == f; }
// Uses the features of `f` the CPU has; returns the features now in use.
Features set_features(Features f);

// The highest level whose features are all in `f` ("portable" for none), and a list of every
// feature in `f` ("avx2+fma, avx512-vnni"), as reports name them.
const char* level_name(Features f);
std::string feature_list(Features f);

}  // namespace purelm::kernels
