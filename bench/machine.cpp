#include "bench/machine.h"

#if defined(__x86_64__)
#include <immintrin.h>
#elif defined(__aarch64__)
#include <arm_neon.h>
#endif

#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "bench/harness.h"
#include "purelm/core/thread_pool.h"
#include "purelm/ops/kernels/gemm.h"
#include "purelm/ops/kernels/isa.h"

namespace purelm::bench {

namespace {

constexpr int64_t kReadBytes = int64_t(1) << 29;  // 512 MiB: far beyond any cache
constexpr int64_t kMatmul = 2048;                 // M = N = K of the peak test

// Bytes per second of summing a buffer that no cache holds. Sixteen independent accumulators keep
// the adds off the critical path, so the loads alone set the pace.
double read_gbs(const std::vector<float>& buf, int threads, double budget) {
  const int saved = num_threads();
  set_num_threads(threads);
  const int64_t n = int64_t(buf.size()), chunk = int64_t(1) << 20;
  std::vector<float> sums(static_cast<size_t>(n / chunk + 1));
  double s = best_seconds(budget, [&] {
    parallel_for(n / chunk, 1, [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c) {
        float acc[16] = {};
        for (int64_t i = c * chunk; i < (c + 1) * chunk; i += 16)
          for (int j = 0; j < 16; ++j) acc[j] += buf[i + j];
        float total = 0;
        for (float a : acc) total += a;
        sums[c] = total;  // a result the compiler must keep
      }
    });
  });
  set_num_threads(saved);
  return double(n) * sizeof(float) / s / 1e9;
}

template <class T>
std::vector<T> filled(int64_t n, T (*convert)(float)) {
  std::mt19937 rng(1);
  std::normal_distribution<float> d;
  std::vector<T> v(static_cast<size_t>(n));
  for (T& x : v) x = convert(d(rng));
  return v;
}

// C = A B^T for square A, B of one element type: bf16 operands take the AVX512-BF16 kernel when
// the CPU has it, as they do in the model's linear layers.
template <class T>
double matmul_gflops(T (*convert)(float), double budget) {
  const int64_t n = kMatmul;
  std::vector<T> a = filled(n * n, convert), b = filled(n * n, convert);
  std::vector<float> c(static_cast<size_t>(n * n));
  double s = best_seconds(budget, [&] {
    kernels::gemm(n, n, n, kernels::rows(a.data(), n), kernels::rows(b.data(), n), c.data(), n,
                  false);
  });
  return 2.0 * double(n * n * n) / s / 1e9;
}

// Each thread runs kChains independent multiply-add chains, enough to cover the latency of the
// units on every core purelm's kernels target; an empty asm keeps the operands in registers.
constexpr int kChains = 24;
constexpr int64_t kPeakIterations = int64_t(1) << 22;

#if defined(__x86_64__)
__attribute__((target("avx512f,avx512bf16"))) void chains_bf16_avx512() {
  __m512 acc[kChains];
  for (__m512& a : acc) a = _mm512_setzero_ps();
  __m512bh x = (__m512bh)_mm512_set1_epi16(0x3f80);
  for (int64_t i = 0; i < kPeakIterations; ++i) {
#pragma GCC unroll 24
    for (__m512& a : acc) a = _mm512_dpbf16_ps(a, x, x);
    __asm__ volatile("" : "+v"(x));
  }
  for (__m512& a : acc) __asm__ volatile("" : : "v"(a));
}

__attribute__((target("avx512f"))) void chains_f32_avx512() {
  __m512 acc[kChains];
  for (__m512& a : acc) a = _mm512_setzero_ps();
  __m512 x = _mm512_set1_ps(1.0f);
  for (int64_t i = 0; i < kPeakIterations; ++i) {
#pragma GCC unroll 24
    for (__m512& a : acc) a = _mm512_fmadd_ps(x, x, a);
    __asm__ volatile("" : "+v"(x));
  }
  for (__m512& a : acc) __asm__ volatile("" : : "v"(a));
}

__attribute__((target("avx2,fma"))) void chains_f32_avx2() {
  __m256 acc[kChains];
  for (__m256& a : acc) a = _mm256_setzero_ps();
  __m256 x = _mm256_set1_ps(1.0f);
  for (int64_t i = 0; i < kPeakIterations; ++i) {
#pragma GCC unroll 24
    for (__m256& a : acc) a = _mm256_fmadd_ps(x, x, a);
    __asm__ volatile("" : "+x"(x));
  }
  for (__m256& a : acc) __asm__ volatile("" : : "x"(a));
}

void chains_f32_sse() {
  __m128 acc[kChains];
  for (__m128& a : acc) a = _mm_setzero_ps();
  __m128 x = _mm_set1_ps(1.0f);
  for (int64_t i = 0; i < kPeakIterations; ++i) {
#pragma GCC unroll 24
    for (__m128& a : acc) a = _mm_add_ps(_mm_mul_ps(x, x), a);
    __asm__ volatile("" : "+x"(x));
  }
  for (__m128& a : acc) __asm__ volatile("" : : "x"(a));
}

#elif defined(__aarch64__)
void chains_f32_neon() {
  float32x4_t acc[kChains];
  for (float32x4_t& a : acc) a = vdupq_n_f32(0);
  float32x4_t x = vdupq_n_f32(1.0f);
  for (int64_t i = 0; i < kPeakIterations; ++i) {
#pragma GCC unroll 24
    for (float32x4_t& a : acc) a = vfmaq_f32(a, x, x);
    __asm__ volatile("" : "+w"(x));
  }
  for (float32x4_t& a : acc) __asm__ volatile("" : : "w"(a));
}
#endif

// GFLOP/s of the instruction set the kernels use, on every thread at once. bf16 without
// AVX512-BF16 is the float32 figure: the kernels widen bf16 to float32 there.
double peak_gflops(bool bf16, double budget) {
#if defined(__aarch64__)
  (void)bf16;  // the kernels widen bf16 to float32 on aarch64
  void (*chains)() = chains_f32_neon;
  double flops_per_chain_step = 8;  // a NEON FMA: 4 lanes, 2 FLOPs
#else
  void (*chains)() = chains_f32_sse;
  double flops_per_chain_step = 8;  // an SSE multiply and add: 4 lanes, 2 FLOPs
  if (kernels::has(kernels::kAvx512Bf16) && bf16) {
    chains = chains_bf16_avx512;
    flops_per_chain_step = 64;  // 16 lanes, each 2 products summed into the accumulator
  } else if (kernels::has(kernels::kAvx512)) {
    chains = chains_f32_avx512;
    flops_per_chain_step = 32;
  } else if (kernels::has(kernels::kAvx2)) {
    chains = chains_f32_avx2;
    flops_per_chain_step = 16;
  }
#endif
  const int threads = num_threads();
  double s = best_seconds(budget, [&] {
    parallel_for(threads, 1, [&](int64_t t0, int64_t t1) {
      for (int64_t t = t0; t < t1; ++t) chains();
    });
  });
  return double(threads) * kChains * flops_per_chain_step * double(kPeakIterations) / s / 1e9;
}

// The model name with its family and model numbers (virtual machines often name only the vendor's
// line, "AMD EPYC", which covers Zen 1 to Zen 5).
std::string cpu_model() {
  std::ifstream f("/proc/cpuinfo");
  std::string name = "unknown", family, model;
  for (std::string line; std::getline(f, line) && !line.empty();) {  // the first processor
    const size_t colon = line.find(':');
    if (colon == std::string::npos) continue;
    const std::string key = line.substr(0, line.find_last_not_of(" \t", colon - 1) + 1),
                      value = line.substr(std::min(line.size(), colon + 2));
    if (key == "model name") name = value;
    if (key == "cpu family") family = value;
    if (key == "model") model = value;
  }
  return family.empty() ? name : name + " (family " + family + ", model " + model + ")";
}

}  // namespace

MachineLimits measure_machine(double budget, const std::function<void()>& before_each) {
  std::vector<float> buf(static_cast<size_t>(kReadBytes / sizeof(float)), 1.0f);
  MachineLimits l;
  before_each();
  l.read_gbs_1 = read_gbs(buf, 1, budget);
  before_each();
  l.read_gbs_all = read_gbs(buf, num_threads(), budget);
  before_each();
  l.f32_gflops = matmul_gflops<float>([](float x) { return x; }, budget);
  before_each();
  l.bf16_gflops = matmul_gflops<bf16>(to_bf16, budget);
  before_each();
  l.f32_peak_gflops = peak_gflops(false, budget);
  before_each();
  l.bf16_peak_gflops = peak_gflops(true, budget);
  return l;
}

nlohmann::ordered_json machine_json(const MachineLimits& l) {
  return {{"cpu", cpu_model()},
          {"cores", std::thread::hardware_concurrency()},
          {"threads", num_threads()},
          {"isa", kernels::level_name(kernels::features())},
          {"isa_features", kernels::feature_list(kernels::features())},
          {"cpu_features", kernels::feature_list(kernels::cpu_features())},
          {"read_gbs_1", l.read_gbs_1},
          {"read_gbs_all", l.read_gbs_all},
          {"matmul_size", kMatmul},
          {"f32_gflops", l.f32_gflops},
          {"bf16_gflops", l.bf16_gflops},
          {"f32_peak_gflops", l.f32_peak_gflops},
          {"bf16_peak_gflops", l.bf16_peak_gflops}};
}

}  // namespace purelm::bench
