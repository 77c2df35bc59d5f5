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
  // Candidates in order of logit, ties by id. Top-k keeps the k first, top-p and min-p a prefix of
  // those: only that prefix is ever sorted (sorting all V, 151936 for Qwen3, took longer than the
  // model's decode step), and with no filter the candidates stay in id order.
  std::vector<int32_t> idx(static_cast<size_t>(V));
  std::iota(idx.begin(), idx.end(), 0);
  const auto before = [&](int32_t a, int32_t b) {
    return logits[a] > logits[b] || (logits[a] == logits[b] && a < b);
  };
  int64_t keep = cfg_.top_k > 0 ? std::min(cfg_.top_k, V) : V;
  if (keep < V) std::nth_element(idx.begin(), idx.begin() + keep, idx.end(), before);
  const double mx = *std::max_element(logits, logits + V) / cfg_.temperature;
  std::vector<double> p(static_cast<size_t>(keep));
  double sum = 0;
  auto weigh = [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) p[i] = std::exp(logits[idx[i]] / cfg_.temperature - mx);
  };
  weigh(0, keep);
  for (int64_t i = 0; i < keep; ++i) sum += p[i];
  if (cfg_.top_p < 1.0f || cfg_.min_p > 0) {
    // Sorts a head of the kept candidates, four times longer each round, until the cut falls in it.
    for (int64_t head = std::min<int64_t>(keep, 64);; head = std::min(keep, head * 4)) {
      std::partial_sort(idx.begin(), idx.begin() + head, idx.begin() + keep, before);
      weigh(0, head);
      int64_t cut = head;
      double acc = 0;
      const double floor = cfg_.min_p * p[0];
      for (int64_t i = 0; i < head; ++i) {
        if (i > 0 && p[i] < floor) {
          cut = i;
          break;
        }
        acc += p[i] / sum;
        if (cfg_.top_p < 1.0f && acc >= cfg_.top_p) {
          cut = i + 1;
          break;
        }
      }
      if (cut < head || head == keep) {
        keep = cut;
        break;
      }
    }
  }
  std::discrete_distribution<int64_t> pick(p.begin(), p.begin() + keep);
  return idx[pick(rng_)];
}

}  // namespace purelm
