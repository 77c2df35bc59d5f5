#include <cstdio>

#include "bench/cost.h"
#include "bench/harness.h"
#include "bench/workloads.h"
#include "purelm/ops/autograd.h"
#include "purelm/train/objective.h"

namespace purelm::bench {

namespace {

double count_targets(const Tensor& targets) {
  double n = 0;
  for (int64_t i = 0; i < targets.numel(); ++i) n += targets.data<int32_t>()[i] >= 0;
  return n;
}

}  // namespace

nlohmann::ordered_json bench_train(Model& m, int64_t B, int64_t T, DType act, bool recompute,
                                   double budget, double peak_gflops, const Place& at) {
  const char* compute = act == DType::BF16 ? "bf16" : "f32";
  std::fprintf(stderr, "bench: training step, B = %lld, T = %lld, %s compute%s\n", (long long)B,
               (long long)T, compute, recompute ? ", recomputing activations" : "");
  m.act = act;  // float32 master weights either way, as purelm train --dtype
  m.recompute = recompute;
  DataParallel* dp = at.dp;
  AdamW opt(dp ? dp->make_trainable() : make_trainable(m), {});
  Tensor ids = random_ids(m.config.vocab_size, B, T, 3), targets = next_token_targets(ids);
  float share = 1;  // of the batch's targets: each process's loss is its rows' mean
  if (dp) {
    const double all = count_targets(targets);
    ids = dp->rows(ids);
    targets = dp->rows(targets);
    share = float(count_targets(targets) / all);
  }
  auto step = [&] {  // as trainer.cpp takes a step, without clipping
    opt.zero_grad();
    Tape tape;
    Tensor loss = lm_loss(m, ids, targets);
    tape.backward(loss, Tensor::from_f32({share}, {1}));
    if (dp) dp->finish_grads();
    opt.step(1e-4);
    if (dp) dp->after_step();
  };
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
