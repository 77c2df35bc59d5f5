#include <cstdio>

#include "bench/cost.h"
#include "bench/harness.h"
#include "bench/workloads.h"
#include "purelm/train/objective.h"
#include "purelm/train/step.h"

namespace purelm::bench {

nlohmann::ordered_json bench_train(Model& m, int64_t B, int64_t T, DType act, bool recompute,
                                   double budget, double peak_gflops, const Place& at) {
  const char* compute = act == DType::BF16 ? "bf16" : "f32";
  std::fprintf(stderr, "bench: training step, B = %lld, T = %lld, %s compute%s\n", (long long)B,
               (long long)T, compute, recompute ? ", recomputing activations" : "");
  m.act = act;  // float32 master weights either way, as purelm train --dtype
  m.recompute = recompute;
  SingleProcess alone(m);
  DataParallel& dp = at.dp ? *at.dp : alone;
  AdamW opt(dp.make_trainable(), {});
  const Tensor ids = random_ids(m.config.vocab_size, B, T, 3);
  const Batch batch{ids, next_token_targets(ids), B * (T - 1)};  // all but each row's last
  // As purelm train takes a step, without clipping.
  auto step = [&] { train_step(m, dp, opt, {batch}, 1e-4, 0, 0); };
  double seconds = best_seconds(budget, step, at.agree);
  const double gflops = train_flops(at.whole(m), B, T) / seconds / 1e9;
  return {{"batch", B},
          {"seq", T},
          {"compute", compute},
          {"recompute", recompute},
          {"seconds", seconds},
          {"tok_s", double(B * T) / seconds},
          {"gflops", gflops},
          {"peak", compute},
          {"mfu", gflops / peak_gflops}};
}

}  // namespace purelm::bench
