#include "purelm/ops/moe.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "purelm/ops/autograd.h"
#include "purelm/ops/kernels/vec.h"
#include "purelm/ops/rows.h"

namespace purelm {

Routing route_topk(const Tensor& router_logits, int64_t k, bool renormalise) {
  check_float(router_logits, "route_topk", "router logits");
  check(router_logits.rank() == 2 && k >= 1 && k <= router_logits.dim(1),
        "route_topk: cannot pick ", k, " of ", router_logits.shape());
  int64_t M = router_logits.dim(0), E = router_logits.dim(1);
  F32View z(router_logits);
  std::vector<float> probs(static_cast<size_t>(M * E));
  Routing r{Tensor::empty({M, k}, DType::F32), std::vector<int32_t>(static_cast<size_t>(M * k))};
  std::vector<int32_t> order(static_cast<size_t>(E));
  for (int64_t m = 0; m < M; ++m) {
    const float* zm = z.data() + m * E;
    float* p = &probs[m * E];
    float mx = *std::max_element(zm, zm + E);
    double s = 0;
    for (int64_t e = 0; e < E; ++e) s += p[e] = std::exp(zm[e] - mx);
    for (int64_t e = 0; e < E; ++e) p[e] = float(p[e] / s);
    std::iota(order.begin(), order.end(), 0);
    std::stable_sort(order.begin(), order.end(), [&](int32_t a, int32_t b) { return p[a] > p[b]; });
    float sel = 0;
    for (int64_t j = 0; j < k; ++j) sel += p[order[j]];
    for (int64_t j = 0; j < k; ++j) {
      r.experts[m * k + j] = order[j];
      r.weights.data<float>()[m * k + j] = renormalise ? p[order[j]] / sel : p[order[j]];
    }
  }
  Tensor w = r.weights;
  if (track(w, {&router_logits})) {
    Tape::active()->record(w, [router_logits, w, experts = r.experts, probs = std::move(probs), M,
                               E, k, renormalise]() mutable {
      if (!w.has_grad()) return;
      const float* dw = w.grad().data<float>();
      const float* wv = w.data<float>();
      std::vector<float> dz(static_cast<size_t>(M * E), 0.0f), dp(static_cast<size_t>(E));
      for (int64_t m = 0; m < M; ++m) {
        const float* p = &probs[m * E];
        std::fill(dp.begin(), dp.end(), 0.0f);
        // Through the renormalisation w_j = p_j / S: dp_i = (dw_i - sum_j dw_j w_j) / S.
        float S = 0, dot = 0;
        for (int64_t j = 0; j < k; ++j) {
          S += p[experts[m * k + j]];
          dot += dw[m * k + j] * wv[m * k + j];
        }
        for (int64_t j = 0; j < k; ++j)
          dp[experts[m * k + j]] = renormalise ? (dw[m * k + j] - dot) / S : dw[m * k + j];
        // Through the softmax: dz = p * (dp - sum(dp * p)).
        float pd = 0;
        for (int64_t e = 0; e < E; ++e) pd += dp[e] * p[e];
        for (int64_t e = 0; e < E; ++e) dz[m * E + e] = p[e] * (dp[e] - pd);
      }
      accumulate_grad(router_logits, dz.data());
      w.release_grad();
    });
  }
  return r;
}

std::vector<ExpertBatch> group_by_expert(const Routing& r, int64_t num_experts) {
  std::vector<ExpertBatch> groups(static_cast<size_t>(num_experts));
  int64_t k = r.weights.dim(1);
  for (size_t s = 0; s < r.experts.size(); ++s) {
    groups[r.experts[s]].tokens.push_back(int32_t(int64_t(s) / k));
    groups[r.experts[s]].slots.push_back(int32_t(s));
  }
  return groups;
}

Tensor gather_rows(const Tensor& x, const std::vector<int32_t>& rows) {
  check_float(x, "gather_rows", "x");
  check(x.rank() == 2, "gather_rows: x must be 2-D, got ", x.shape());
  int64_t M = x.dim(0), C = x.dim(1), n = int64_t(rows.size());
  Tensor y = Tensor::empty({n, C}, x.dtype());
  std::vector<float> row(static_cast<size_t>(C));
  for (int64_t i = 0; i < n; ++i) {
    check(rows[i] >= 0 && rows[i] < M, "gather_rows: row ", rows[i], " out of range");
    load_f32(x, rows[i] * C, C, row.data());
    store_f32(y, i * C, C, row.data());
  }
  if (track(y, {&x})) {
    Tape::active()->record(y, [x, y, rows, M, C, n]() mutable {
      if (!y.has_grad()) return;
      std::vector<float> dx(static_cast<size_t>(M * C), 0.0f);
      for (int64_t i = 0; i < n; ++i)
        kernels::axpy(1.0f, y.grad().data<float>() + i * C, &dx[rows[i] * C], C);
      accumulate_grad(x, dx.data());
      y.release_grad();
    });
  }
  return y;
}

Tensor combine_rows(const std::vector<Tensor>& parts, const std::vector<std::vector<int32_t>>& rows,
                    int64_t M, DType dtype) {
  check(parts.size() == rows.size(), "combine_rows: ", parts.size(), " parts but ", rows.size(),
        " row lists");
  int64_t C = -1;
  for (const Tensor& p : parts)
    if (p.defined()) C = p.dim(1);
  check(C >= 0, "combine_rows: nothing to combine");
  std::vector<float> out(static_cast<size_t>(M * C), 0.0f), row(static_cast<size_t>(C));
  bool grad = false;
  for (size_t p = 0; p < parts.size(); ++p) {
    if (rows[p].empty()) continue;
    check(parts[p].dim(0) == int64_t(rows[p].size()) && parts[p].dim(1) == C, "combine_rows: part ",
          p, " has shape ", parts[p].shape());
    for (size_t i = 0; i < rows[p].size(); ++i) {
      load_f32(parts[p], int64_t(i) * C, C, row.data());
      kernels::axpy(1.0f, row.data(), &out[rows[p][i] * C], C);
    }
    grad = grad || parts[p].requires_grad();
  }
  Tensor y = Tensor::empty({M, C}, dtype);
  store_f32(y, 0, y.numel(), out.data());
  if (grad && Tape::active()) {
    y.set_requires_grad(true);
    Tape::active()->record(y, [parts, rows, y, C]() mutable {
      if (!y.has_grad()) return;
      for (size_t p = 0; p < parts.size(); ++p) {
        if (rows[p].empty() || !parts[p].requires_grad()) continue;
        float* dp = parts[p].ensure_grad().data<float>();
        for (size_t i = 0; i < rows[p].size(); ++i)
          kernels::axpy(1.0f, y.grad().data<float>() + rows[p][i] * C, dp + int64_t(i) * C, C);
      }
      y.release_grad();
    });
  }
  return y;
}

}  // namespace purelm
