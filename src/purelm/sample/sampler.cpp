#include "purelm/sample/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>

namespace purelm {

int32_t argmax(const float* x, int64_t n) { return int32_t(std::max_element(x, x + n) - x); }

int32_t Sampler::next(float* logits, int64_t V, const std::vector<int32_t>& history) {
  if (cfg_.repetition_penalty != 1.0f) {  // HF: shrink the logit of every token already seen
    std::vector<bool> seen(size_t(V), false);
    for (int32_t t : history)
      if (t >= 0 && t < V && !seen[t]) {
        seen[t] = true;
        logits[t] = logits[t] > 0 ? logits[t] / cfg_.repetition_penalty
                                  : logits[t] * cfg_.repetition_penalty;
      }
  }
  if (cfg_.temperature <= 0) return argmax(logits, V);
  // Candidates sorted by logit; each filter keeps a prefix of them.
  std::vector<int32_t> idx(static_cast<size_t>(V));
  std::iota(idx.begin(), idx.end(), 0);
  int64_t keep = cfg_.top_k > 0 ? std::min(cfg_.top_k, V) : V;
  std::partial_sort(idx.begin(), idx.begin() + keep, idx.end(),
                    [&](int32_t a, int32_t b) { return logits[a] > logits[b]; });
  std::vector<double> p(static_cast<size_t>(keep));
  double mx = logits[idx[0]] / cfg_.temperature, sum = 0;
  for (int64_t i = 0; i < keep; ++i) sum += p[i] = std::exp(logits[idx[i]] / cfg_.temperature - mx);
  for (double& x : p) x /= sum;
  if (cfg_.top_p < 1.0f) {
    double acc = 0;
    for (int64_t i = 0; i < keep; ++i) {
      acc += p[i];
      if (acc >= cfg_.top_p) {
        keep = i + 1;
        break;
      }
    }
  }
  if (cfg_.min_p > 0) {
    double floor = cfg_.min_p * p[0];
    int64_t n = 1;
    while (n < keep && p[n] >= floor) ++n;
    keep = n;
  }
  std::discrete_distribution<int64_t> pick(p.begin(), p.begin() + keep);
  return idx[pick(rng_)];
}

}  // namespace purelm
