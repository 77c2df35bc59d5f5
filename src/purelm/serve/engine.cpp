#include "purelm/serve/engine.h"

#include <algorithm>

namespace purelm {

Histogram::Histogram(std::vector<double> b) : bounds(std::move(b)), counts(bounds.size() + 1, 0) {}

void Histogram::observe(double x) {
  for (size_t i = 0; i < bounds.size(); ++i)
    if (x <= bounds[i]) ++counts[i];
  ++counts.back();
  sum += x;
  ++count;
}

Engine::Engine(const Model& m, const Tokenizer& tok, EngineOptions opt)
    : model_(m), tok_(tok), opt_(std::move(opt)) {
  check(opt_.parallel > 0, "serve: --parallel must be at least 1");
  check(opt_.ctx_size > 1, "serve: --ctx-size must be at least 2");
  check(opt_.prefill_chunk > 0, "serve: the prefill chunk must be at least 1 token");
  opt_.ctx_size = std::min(opt_.ctx_size, m.config.max_position_embeddings);
  stats_.slots_total = opt_.parallel;
  stats_.time_to_first_token = Histogram({0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30});
  stats_.token_latency = Histogram({0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1});
}

Engine::~Engine() { stop(); }

EngineStats Engine::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

}  // namespace purelm
