// Choosing the next token from logits: greedy, or sampling with temperature, top-k, top-p, min-p
// and a repetition penalty, in the order HuggingFace applies them.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

namespace purelm {

struct SamplerConfig {
  float temperature = 1.0f;         // 0: greedy (argmax)
  int64_t top_k = 0;                // 0: off
  float top_p = 1.0f;               // 1: off
  float min_p = 0.0f;               // 0: off
  float repetition_penalty = 1.0f;  // 1: off
  uint64_t seed = 0;
};

class Sampler {
 public:
  explicit Sampler(SamplerConfig cfg) : cfg_(cfg), rng_(cfg.seed) {}
  // `logits` [V] may be modified. `history` holds the tokens the penalty applies to.
  int32_t next(float* logits, int64_t V, const std::vector<int32_t>& history);

 private:
  SamplerConfig cfg_;
  std::mt19937_64 rng_;
};

int32_t argmax(const float* x, int64_t n);

}  // namespace purelm
