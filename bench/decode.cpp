#include <cstdio>
#include <fstream>
#include <string>

#include "bench/cost.h"
#include "bench/harness.h"
#include "bench/workloads.h"
#include "purelm/core/error.h"
#include "purelm/ops/autograd.h"

namespace purelm::bench {

namespace {

// A cache of B rows, each holding `one`'s single row, with room for `S` positions. What the rows
// hold does not change the work of a step, and prefilling B rows would cost B times as long.
KVCache replicate(const Model& m, const KVCache& one, int64_t B, int64_t S) {
  KVCache kv = init_kv(m.config, B, S, one.k[0].dtype());
  for (int64_t b = 0; b < B; ++b) kv.copy_row(one, 0, b);
  return kv;
}

// MemAvailable of /proc/meminfo in bytes, or 0 where there is none.
double available_bytes() {
  std::ifstream in("/proc/meminfo");
  const std::string key = "MemAvailable:";
  for (std::string line; std::getline(in, line);)
    if (line.starts_with(key)) return std::stod(line.substr(key.size())) * 1024;  // "... kB"
  return 0;
}

}  // namespace

nlohmann::ordered_json bench_decode(const Model& m, const std::vector<int64_t>& batches,
                                    int64_t context, int64_t steps, DType kv_dtype, double budget,
                                    double read_gbs, const Place& at) {
  NoGrad no_grad;
  const Config& c = m.config;
  KVCache prompt = init_kv(c, 1, context, kv_dtype);
  m.hidden(random_ids(c.vocab_size, 1, context, 1), &prompt);
  // Each B gets a cache of B rows, freed before the next. One too large for the memory fails here,
  // before any timing, not by the OOM killer (per process: a mesh's processes share a machine's).
  const double per_row = double(context + steps) * kv_bytes_per_position(c, kv_dtype);
  const double available = available_bytes();
  for (int64_t B : batches)
    check(available == 0 || double(B) * per_row < available, "decode at B = ", B,
          " needs a KV cache of ", int64_t(double(B) * per_row / 1e6), " MB, more than the ",
          int64_t(available / 1e6), " MB of memory available: a smaller --batch",
          kv_dtype == DType::F32 ? ", or --kv-cache bf16" : "");
  nlohmann::ordered_json rows = nlohmann::ordered_json::array();
  for (int64_t B : batches) {
    std::fprintf(stderr, "bench: decode, B = %lld (KV cache %.1f MB)\n", (long long)B,
                 double(B) * per_row / 1e6);
    KVCache kv = replicate(m, prompt, B, context + steps);
    std::vector<Tensor> next;  // the step's new token of each row
    for (int64_t s = 0; s < steps; ++s) next.push_back(random_ids(c.vocab_size, B, 1, uint32_t(s)));
    const double rep = best_seconds(
        budget,
        [&] {
          for (int64_t b = 0; b < B; ++b) kv.truncate(b, context);
          for (const Tensor& ids : next) m.logits(ids, &kv);
        },
        at.agree);
    const double seconds = rep / double(steps);
    // Step s attends over context + s + 1 positions in every row.
    const double positions = double(B) * (double(context) + double(steps + 1) / 2);
    const double weight_bytes = decode_weight_bytes(m, B),
                 kv_bytes = positions * kv_bytes_per_position(c, kv.k[0].dtype()),
                 gbs = (weight_bytes + kv_bytes) / seconds / 1e9;
    rows.push_back({{"batch", B},
                    {"context", context},
                    {"ms_per_step", seconds * 1e3},
                    {"tok_s_per_row", 1 / seconds},
                    {"tok_s", double(at.groups * B) / seconds},
                    {"weight_mb_per_step", weight_bytes / 1e6},
                    {"kv_mb_per_step", kv_bytes / 1e6},
                    {"gbs", gbs},
                    {"bw_util", gbs / read_gbs}});
  }
  return rows;
}

}  // namespace purelm::bench
