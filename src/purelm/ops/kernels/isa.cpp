#include "purelm/ops/kernels/isa.h"

#include <array>
#include <atomic>
#include <cstdlib>

#include "purelm/core/error.h"

#if defined(__aarch64__) && defined(__linux__)
#include <sys/auxv.h>
#elif defined(__aarch64__) && defined(__APPLE__)
#include <sys/sysctl.h>
#endif

namespace purelm::kernels {

namespace {

#if defined(__x86_64__)
constexpr std::array<Level, 6> kLevels{{
    {"portable", 0},
    {"avx2", kAvx2},
    {"avx2-vnni", kAvx2 | kAvxVnni},
    {"avx512", kAvx2 | kAvx512},
    {"avx512-vnni", kAvx2 | kAvx512 | kAvx512Vnni},
    {"avx512-bf16", kAvx2 | kAvx512 | kAvx512Vnni | kAvx512Bf16},
}};

Features detect() {
  __builtin_cpu_init();
  Features f = 0;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
      __builtin_cpu_supports("f16c"))
    f |= kAvx2;
  if ((f & kAvx2) && __builtin_cpu_supports("avxvnni")) f |= kAvxVnni;
  if ((f & kAvx2) && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
      __builtin_cpu_supports("avx512vl"))
    f |= kAvx512;
  if ((f & kAvx512) && __builtin_cpu_supports("avx512vnni")) f |= kAvx512Vnni;
  if ((f & kAvx512) && __builtin_cpu_supports("avx512bf16")) f |= kAvx512Bf16;
  return f;
}
#elif defined(__aarch64__)
// Every Armv8.6 CPU with BF16 also has the dot product (Armv8.4 made it mandatory).
constexpr std::array<Level, 4> kLevels{{
    {"portable", 0},
    {"neon", kNeon},
    {"neon-dotprod", kNeon | kDotProd},
    {"neon-bf16", kNeon | kDotProd | kBf16},
}};

#if defined(__APPLE__)
bool sysctl_flag(const char* name) {
  int value = 0;
  size_t size = sizeof(value);
  return sysctlbyname(name, &value, &size, nullptr, 0) == 0 && value != 0;
}
#endif

Features detect() {
  Features f = kNeon;
#if defined(__linux__)
  const unsigned long hwcap = getauxval(AT_HWCAP), hwcap2 = getauxval(AT_HWCAP2);
  if (hwcap & HWCAP_ASIMDDP) f |= kDotProd;
  if ((f & kDotProd) && (hwcap2 & HWCAP2_BF16)) f |= kBf16;
#elif defined(__APPLE__)
  if (sysctl_flag("hw.optional.arm.FEAT_DotProd")) f |= kDotProd;
  if ((f & kDotProd) && sysctl_flag("hw.optional.arm.FEAT_BF16")) f |= kBf16;
#endif
  return f;
}
#else
constexpr std::array<Level, 1> kLevels{{{"portable", 0}}};

Features detect() { return 0; }
#endif

// The CPU's features under the cap of PURELM_ISA, if set.
Features initial() {
  Features f = cpu_features();
  if (const char* cap = std::getenv("PURELM_ISA"); cap && *cap) {
    const Level* level = find_level(cap);
    if (!level) {
      std::string names;
      for (const Level& l : kLevels) names += std::string(names.empty() ? "" : ", ") + l.name;
      fail("PURELM_ISA=", cap, " names no instruction-set level; one of ", names);
    }
    f &= level->features;
  }
  return f;
}

std::atomic<Features>& current() {
  static std::atomic<Features> f{initial()};
  return f;
}

}  // namespace

std::span<const Level> levels() { return kLevels; }

const Level* find_level(std::string_view name) {
  for (const Level& l : kLevels)
    if (name == l.name) return &l;
  return nullptr;
}

Features cpu_features() {
  static const Features f = detect();
  return f;
}

Features features() { return current().load(std::memory_order_relaxed); }

Features set_features(Features f) {
  f &= cpu_features();
  current().store(f, std::memory_order_relaxed);
  return f;
}

const char* level_name(Features f) {
  const char* name = kLevels[0].name;
  for (const Level& l : kLevels)
    if ((f & l.features) == l.features) name = l.name;
  return name;
}

std::string feature_list(Features f) {
  static constexpr std::array<std::pair<Feature, const char*>, 8> kNames{{
      {kAvx2, "avx2+fma"},
      {kAvxVnni, "avx-vnni"},
      {kAvx512, "avx512"},
      {kAvx512Vnni, "avx512-vnni"},
      {kAvx512Bf16, "avx512-bf16"},
      {kNeon, "neon"},
      {kDotProd, "dotprod"},
      {kBf16, "bf16"},
  }};
  std::string out;
  for (const auto& [bit, name] : kNames)
    if (f & bit) out += std::string(out.empty() ? "" : ", ") + name;
  return out.empty() ? "portable" : out;
}

}  // namespace purelm::kernels
