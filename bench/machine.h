// The machine's own limits, measured with purelm's code: what decode (memory-bound) and prefill
// and training (matmul-bound) are compared against.
#pragma once

#include <functional>
#include <nlohmann/json.hpp>

namespace purelm::bench {

struct MachineLimits {
  double read_gbs_1 = 0, read_gbs_all = 0;  // streaming read bandwidth, 1 thread and all
  double f32_gflops = 0, bf16_gflops = 0;   // best achieved matmul (kernels::gemm), all threads
  // Multiply-adds that wait on nothing but the vector units (registers only), all threads: the
  // instruction peak that no matmul reaches, against which its efficiency is judged.
  double f32_peak_gflops = 0, bf16_peak_gflops = 0;
};
// `before_each` runs before each test: on a mesh, a barrier, so that every process measures its
// share of the machine while the others measure theirs.
MachineLimits measure_machine(
    double seconds_per_test, const std::function<void()>& before_each = [] {});

// The CPU, its cores, the threads in use and the kernels' instruction set, with the limits.
nlohmann::ordered_json machine_json(const MachineLimits& lim);

}  // namespace purelm::bench
