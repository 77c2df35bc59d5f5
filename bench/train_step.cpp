#include <cstdio>

#include "bench/cost.h"
#include "bench/harness.h"
#include "bench/workloads.h"
#include "purelm/ops/autograd.h"
#include "purelm/train/objective.h"

namespace purelm::bench {

nlohmann::ordered_json bench_train(Model& m, int64_t B, int64_t T, DType act, bool recompute,
                                   double budget, double peak_gflops) {
  const char* compute = act == DType::BF16 ? "bf16" : "f32";
  std::fprintf(stderr, "bench: training step, B = %lld, T = %lld, %s compute%s\n", (long long)B,
               (long long)T, compute, recompute ? ", recomputing activations" : "");
  m.act = act;  // float32 master weights either way, as purelm train --dtype
  m.recompute = recompute;
  AdamW opt(make_trainable(m), {});
  Tensor ids = random_ids(m.config.vocab_size, B, T, 3), targets = next_token_targets(ids);
  double seconds = best_seconds(budget, [&] {  // as trainer.cpp takes a step, without clipping
    opt.zero_grad();
    Tape tape;
    Tensor loss = lm_loss(m, ids, targets);
    tape.backward(loss);
    opt.step(1e-4);
  });
  const double gflops = train_flops(m.config, B, T) / seconds / 1e9;
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
