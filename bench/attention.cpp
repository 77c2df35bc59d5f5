#include "purelm/ops/attention.h"

#include <cstdio>
#include <random>

#include "bench/harness.h"
#include "bench/workloads.h"
#include "purelm/ops/autograd.h"

namespace purelm::bench {

namespace {

Tensor random_f32(const Shape& shape, std::mt19937& rng) {
  std::normal_distribution<float> normal;
  std::vector<float> v(static_cast<size_t>(numel(shape)));
  for (float& x : v) x = normal(rng);
  Tensor t = Tensor::from_f32(v, shape);
  t.set_requires_grad(true);
  return t;
}

}  // namespace

nlohmann::ordered_json bench_attention(const Config& c, int64_t T, double budget,
                                       double peak_gflops) {
  std::fprintf(stderr, "bench: attention, T = %lld\n", (long long)T);
  const int64_t N = c.num_attention_heads, K = c.num_key_value_heads, H = c.head_dim;
  std::mt19937 rng(4);
  Tensor q = random_f32({1, T, N, H}, rng), k = random_f32({1, T, K, H}, rng),
         v = random_f32({1, T, K, H}, rng);
  Tensor dy =
      Tensor::from_f32(std::vector<float>(static_cast<size_t>(T * N * H), 1.0f / T), {1, T, N, H});
  const double forward = 2.0 * 2 * T * T / 2 * N * H;  // QK^T and PV over the causal half
  double fwd_s = best_seconds(budget, [&] {
    NoGrad no_grad;
    attention(q, k, v, {0});
  });
  // The backward's five products (the scores again, dV, dP, dQ, dK) are 2.5 forwards.
  double both_s = best_seconds(budget, [&] {
    Tape tape;
    Tensor y = attention(q, k, v, {0});
    tape.backward(y, dy);
    for (Tensor* t : {&q, &k, &v}) t->release_grad();
  });
  const double fwd_gflops = forward / fwd_s / 1e9, both_gflops = 3.5 * forward / both_s / 1e9;
  return {{"T", T},
          {"forward_s", fwd_s},
          {"forward_gflops", fwd_gflops},
          {"forward_backward_s", both_s},
          {"forward_backward_gflops", both_gflops},
          {"of_peak_forward", fwd_gflops / peak_gflops},
          {"of_peak_forward_backward", both_gflops / peak_gflops}};
}

}  // namespace purelm::bench
