#include <cstdio>

#include "bench/cost.h"
#include "bench/harness.h"
#include "bench/workloads.h"
#include "purelm/ops/autograd.h"
#include "purelm/sample/last_logits.h"

namespace purelm::bench {

nlohmann::ordered_json bench_prefill(const Model& m, int64_t T, double budget, double peak_gflops,
                                     const char* peak, const Place& at) {
  std::fprintf(stderr, "bench: prefill, T = %lld\n", (long long)T);
  NoGrad no_grad;
  KVCache kv = init_kv(m.config, 1, T);
  Tensor ids = random_ids(m.config.vocab_size, 1, T, 2);
  double seconds = best_seconds(
      budget,
      [&] {
        kv.truncate(0, 0);
        last_logits(m, m.hidden(ids, &kv));
      },
      at.agree);
  const double gflops = at.groups * prefill_flops(at.whole(m), T) / seconds / 1e9;
  return {{"tokens", T},      {"seconds", seconds}, {"tok_s", double(at.groups * T) / seconds},
          {"gflops", gflops}, {"peak", peak},       {"mfu", gflops / peak_gflops}};
}

}  // namespace purelm::bench
