#include "purelm/ops/kernels/isa.h"

#include <algorithm>
#include <atomic>

namespace purelm::kernels {

namespace {

Isa detect() {
  __builtin_cpu_init();
  bool avx512 = __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                __builtin_cpu_supports("avx512vl");
  if (avx512 && __builtin_cpu_supports("avx512bf16") && __builtin_cpu_supports("avx512vnni"))
    return Isa::Avx512Bf16;
  if (avx512) return Isa::Avx512;
  if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) return Isa::Avx2;
  return Isa::Portable;
}

std::atomic<Isa>& current() {
  static std::atomic<Isa> level{best_isa()};
  return level;
}

}  // namespace

Isa best_isa() {
  static const Isa best = detect();
  return best;
}

Isa isa() { return current().load(std::memory_order_relaxed); }

Isa set_isa(Isa level) {
  level = std::min(level, best_isa());
  current().store(level, std::memory_order_relaxed);
  return level;
}

const char* isa_name(Isa level) {
  switch (level) {
    case Isa::Portable:
      return "portable";
    case Isa::Avx2:
      return "avx2";
    case Isa::Avx512:
      return "avx512";
    case Isa::Avx512Bf16:
      return "avx512-bf16";
  }
  return "?";
}

}  // namespace purelm::kernels
