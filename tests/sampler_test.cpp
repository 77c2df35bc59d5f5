// The sampler against the definitions of its filters, applied in HuggingFace's order (repetition
// penalty, then temperature, top-k, top-p, min-p): many seeded draws must never leave the
// filtered support, and their frequencies must fit the filtered softmax, computed here
// independently over the whole vocabulary, by a chi-square test at a ~1e-9 false-positive rate
// (the seeds are fixed, so each run draws the same tokens).
#include "purelm/sample/sampler.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "testing.h"

namespace purelm {
namespace {

// Distinct logits (no ties at any filter's boundary) with both signs, for the penalty.
const std::vector<float> kLogits = {1.2f, -0.3f, 2.9f, 0.4f, -2.0f, 2.2f, 0.0f, 1.7f, -0.9f, 3.3f};

// The distribution a sampler with `cfg` must draw from, step by step as HF's processors define
// it: each step masks tokens of the full vocabulary and the last one renormalizes.
std::vector<double> reference(const SamplerConfig& cfg, const std::vector<int32_t>& history) {
  std::vector<double> z(kLogits.begin(), kLogits.end());
  const size_t V = z.size();
  if (cfg.repetition_penalty != 1.0f) {
    std::vector<bool> seen(V, false);
    for (int32_t t : history)
      if (t >= 0 && size_t(t) < V) seen[size_t(t)] = true;
    for (size_t i = 0; i < V; ++i)
      if (seen[i]) z[i] = z[i] < 0 ? z[i] * cfg.repetition_penalty : z[i] / cfg.repetition_penalty;
  }
  for (double& x : z) x /= cfg.temperature;
  std::vector<bool> keep(V, true);
  auto probs = [&] {  // softmax over the tokens still kept
    std::vector<double> p(V, 0.0);
    double mx = -INFINITY, sum = 0;
    for (size_t i = 0; i < V; ++i)
      if (keep[i]) mx = std::max(mx, z[i]);
    for (size_t i = 0; i < V; ++i)
      if (keep[i]) sum += p[i] = std::exp(z[i] - mx);
    for (double& x : p) x /= sum;
    return p;
  };
  if (cfg.top_k > 0) {  // keep tokens with fewer than k tokens above them
    for (size_t i = 0; i < V; ++i)
      keep[i] = std::count_if(z.begin(), z.end(), [&](double x) { return x > z[i]; }) < cfg.top_k;
  }
  if (cfg.top_p < 1.0f) {  // keep tokens whose more probable tokens hold less than top_p
    std::vector<double> p = probs();
    for (size_t i = 0; i < V; ++i) {
      double above = 0;
      for (size_t j = 0; j < V; ++j)
        if (p[j] > p[i]) above += p[j];
      keep[i] = keep[i] && above < cfg.top_p;
    }
  }
  if (cfg.min_p > 0) {  // keep tokens at least min_p times as probable as the most probable
    std::vector<double> p = probs();
    double top = *std::max_element(p.begin(), p.end());
    for (size_t i = 0; i < V; ++i) keep[i] = keep[i] && p[i] >= cfg.min_p * top;
  }
  return probs();
}

// Wilson-Hilferty's approximation of the chi-square quantile with `df` degrees of freedom six
// standard deviations out (a tail of about 1e-9).
double chi2_bound(int df) {
  double k = df, a = 2.0 / (9.0 * k);
  return k * std::pow(1.0 - a + 6.0 * std::sqrt(a), 3.0);
}

// Draws `n` tokens and checks them against reference(); returns the size of the support.
int expect_draws_fit(const SamplerConfig& cfg, const std::vector<int32_t>& history = {},
                     int n = 30000) {
  Sampler s(cfg);
  std::vector<int64_t> count(kLogits.size(), 0);
  for (int i = 0; i < n; ++i) {
    std::vector<float> logits = kLogits;  // next() may modify them
    int32_t t = s.next(logits.data(), int64_t(logits.size()), history);
    EXPECT_GE(t, 0);
    EXPECT_LT(size_t(t), logits.size());
    if (t >= 0 && size_t(t) < logits.size()) ++count[size_t(t)];
  }
  std::vector<double> p = reference(cfg, history);
  double chi2 = 0;
  int support = 0;
  for (size_t i = 0; i < p.size(); ++i) {
    if (p[i] == 0) {
      EXPECT_EQ(count[i], 0) << "token " << i << " lies outside the filtered support";
      continue;
    }
    ++support;
    double expected = p[i] * n;
    chi2 += (count[i] - expected) * (count[i] - expected) / expected;
  }
  if (support > 1) {
    EXPECT_LT(chi2, chi2_bound(support - 1)) << "support " << support;
  }
  return support;
}

TEST(Sampler, TemperatureOne) { EXPECT_EQ(expect_draws_fit({.seed = 1}), 10); }

TEST(Sampler, Temperature) {
  EXPECT_EQ(expect_draws_fit({.temperature = 0.5f, .seed = 2}), 10);
  EXPECT_EQ(expect_draws_fit({.temperature = 2.5f, .seed = 3}), 10);
}

TEST(Sampler, TopK) {
  EXPECT_EQ(expect_draws_fit({.top_k = 3, .seed = 4}), 3);
  EXPECT_EQ(expect_draws_fit({.temperature = 0.7f, .top_k = 5, .seed = 5}), 5);
  EXPECT_EQ(expect_draws_fit({.top_k = 1, .seed = 6}), 1);
  EXPECT_EQ(expect_draws_fit({.top_k = 50, .seed = 7}), 10);  // k beyond the vocabulary: all
}

TEST(Sampler, TopP) {
  EXPECT_EQ(expect_draws_fit({.top_p = 0.5f, .seed = 8}), 2);
  EXPECT_EQ(expect_draws_fit({.top_p = 0.9f, .seed = 9}), 5);
  EXPECT_EQ(expect_draws_fit({.top_p = 0.01f, .seed = 10}), 1);  // always the most probable
  EXPECT_EQ(expect_draws_fit({.temperature = 2.0f, .top_p = 0.9f, .seed = 11}), 7);
}

TEST(Sampler, MinP) {
  EXPECT_EQ(expect_draws_fit({.min_p = 0.1f, .seed = 12}), 5);
  EXPECT_EQ(expect_draws_fit({.min_p = 0.5f, .seed = 13}), 2);
  EXPECT_EQ(expect_draws_fit({.temperature = 3.0f, .min_p = 0.5f, .seed = 14}), 4);
}

TEST(Sampler, FiltersInHuggingFacesOrder) {
  // Top-k before top-p (whose mass is over the top k): 4 tokens, where top-p first keeps 5.
  EXPECT_EQ(expect_draws_fit({.temperature = 1.5f, .top_k = 6, .top_p = 0.8f, .seed = 15}), 4);
  // Top-p before min-p: 5 tokens, where min-p first keeps 4. (Temperature comes first: the
  // TopP and MinP cases above keep more tokens when it is higher.)
  EXPECT_EQ(expect_draws_fit(
                {.temperature = 0.8f, .top_k = 8, .top_p = 0.95f, .min_p = 0.05f, .seed = 16}),
            5);
}

TEST(Sampler, RepetitionPenalty) {
  // Tokens 9 and 2 (the two largest logits, positive) are divided by the penalty, token 4
  // (negative) multiplied; a token repeated in the history is penalized once.
  const std::vector<int32_t> history = {9, 2, 9, 4, 4, 4};
  EXPECT_EQ(expect_draws_fit({.repetition_penalty = 1.8f, .seed = 17}, history), 10);
  EXPECT_EQ(expect_draws_fit({.top_k = 3, .repetition_penalty = 1.8f, .seed = 18}, history), 3);
  // Ids outside the vocabulary in the history are ignored.
  EXPECT_EQ(expect_draws_fit({.repetition_penalty = 1.3f, .seed = 19}, {-1, 10, 1000, 5}), 10);
}

TEST(Sampler, GreedyAppliesThePenalty) {
  Sampler greedy({.temperature = 0.0f, .repetition_penalty = 1.5f});
  std::vector<float> logits = kLogits;
  EXPECT_EQ(greedy.next(logits.data(), int64_t(logits.size()), {}), 9);
  logits = kLogits;  // 3.3 / 1.5 = 2.2 falls below 2.9
  EXPECT_EQ(greedy.next(logits.data(), int64_t(logits.size()), {9}), 2);
  logits = kLogits;  // and 2.9 / 1.5 below 2.2 and 1.7
  EXPECT_EQ(greedy.next(logits.data(), int64_t(logits.size()), {9, 2}), 5);
}

TEST(Sampler, SeedsRepeat) {
  auto draws = [](uint64_t seed) {
    Sampler s({.top_k = 6, .seed = seed});
    std::vector<int32_t> out;
    for (int i = 0; i < 64; ++i) {
      std::vector<float> logits = kLogits;
      out.push_back(s.next(logits.data(), int64_t(logits.size()), {}));
    }
    return out;
  };
  EXPECT_EQ(draws(42), draws(42));
  EXPECT_NE(draws(42), draws(43));
}

}  // namespace
}  // namespace purelm
