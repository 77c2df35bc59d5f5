#include "purelm/train/optim.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "purelm/core/thread_pool.h"
#include "purelm/ops/kernels/vec.h"

namespace purelm {

void apply_decay_rules(std::vector<Param>& params, const std::vector<std::string>& no_decay,
                       const std::vector<int>& ranks) {
  for (size_t i = 0; i < params.size(); ++i) {
    Param& p = params[i];
    p.decay = (ranks.empty() ? p.value.rank() : ranks.at(i)) >= 2;
    for (const std::string& pattern : no_decay)
      if (!pattern.empty() && p.name.find(pattern) != std::string::npos) p.decay = false;
  }
}

double global_grad_norm(const std::vector<Param>& params, const SumOver& over) {
  double sum = 0;
  for (const Param& p : params) {
    if (!p.value.has_grad()) continue;
    const float* g = p.value.grad().data<float>();
    // Fixed chunks summed in order: the same norm whatever the number of threads.
    const int64_t n = p.value.numel(), chunk = int64_t(1) << 16;
    std::vector<double> parts(size_t((n + chunk - 1) / chunk));
    parallel_for(int64_t(parts.size()), 1, [&](int64_t c0, int64_t c1) {
      for (int64_t c = c0; c < c1; ++c)
        parts[size_t(c)] = kernels::sum_squares(g + c * chunk, std::min(chunk, n - c * chunk));
    });
    double own = 0;
    for (double s : parts) own += s;
    sum += own / p.copies;
  }
  return std::sqrt(over ? over(sum) : sum);
}

double clip_grad_norm(const std::vector<Param>& params, double max_norm, const SumOver& sum) {
  double norm = global_grad_norm(params, sum);
  double coef = max_norm / (norm + 1e-6);
  if (coef >= 1) return norm;
  for (const Param& p : params) {
    if (!p.value.has_grad()) continue;
    float* g = p.value.grad().data<float>();
    parallel_for(p.value.numel(), 1 << 14, [&](int64_t a, int64_t b) {
      for (int64_t i = a; i < b; ++i) g[i] = float(g[i] * coef);
    });
  }
  return norm;
}

}  // namespace purelm
