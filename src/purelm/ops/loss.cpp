#include "purelm/ops/loss.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <optional>
#include <vector>

#include "purelm/core/thread_pool.h"
#include "purelm/ops/autograd.h"
#include "purelm/ops/kernels/gemm.h"
#include "purelm/ops/kernels/operand.h"
#include "purelm/ops/kernels/vec.h"
#include "purelm/ops/parallel.h"
#include "purelm/ops/rows.h"

namespace purelm {

namespace {

// Vocabulary rows per block: about 16 MB of [M, block] logits, and never so few that repacking
// the hidden states for every block outweighs the product.
int64_t vocab_block(int64_t M, int64_t V, int64_t asked) {
  if (asked > 0) return std::min(asked, V);
  return std::min(V, std::max<int64_t>(128, ((int64_t(1) << 22) / M + 31) / 32 * 32));
}

// Whether token t is one of the n vocabulary rows from v.
bool in_block(int32_t t, int64_t v, int64_t n) { return t >= v && t < v + n; }

// z[M, n] = h W[v0 : v0 + n]^T: logits of one vocabulary block for every row.
void block_logits(const kernels::TensorOperand& ho, const kernels::TensorOperand& wo, int64_t M,
                  int64_t D, int64_t v0, int64_t n, float* z, bool bf16) {
  kernels::gemm(M, n, D, ho.rows(D), wo.rows(D, v0 * D), z, n, false, bf16);
}

}  // namespace

Tensor cross_entropy_head(const Tensor& h, const Weight& w, const Tensor& targets, int64_t block) {
  check_float(h, "cross_entropy", "hidden states");
  check_float(w, "cross_entropy", "output weight");
  check(h.rank() == 2 && w.rank() == 2 && h.dim(1) == w.dim(1), "cross_entropy: hidden ", h.shape(),
        " does not match output weight ", w.shape());
  check(targets.dtype() == DType::I32 && targets.numel() == h.dim(0),
        "cross_entropy: targets must be I32 with one entry per row");
  // A vocabulary split over a group (ops/parallel.h): W holds rows [v0, v0 + V) of all of them.
  const SplitMark* mark = w.split;
  const SplitMark* split = mark && mark->split == Split::Out ? mark : nullptr;
  const int64_t M = h.dim(0), D = h.dim(1), V = w.dim(0), Vb = vocab_block(M, V, block),
                v0 = split ? split->rank * V : 0, all = split ? split->size * V : V;
  const int32_t* tg = targets.data<int32_t>();
  int64_t counted = 0;
  for (int64_t i = 0; i < M; ++i) {
    check(tg[i] >= -1 && tg[i] < all, "cross_entropy: target ", tg[i], " outside vocabulary");
    counted += tg[i] >= 0;
  }
  check(counted > 0, "cross_entropy: no position has a target");
  // Both operands in place; with bf16 hidden states the products with W are bf16 ones, as in
  // linear(). The loss itself stays in float32 whatever the compute dtype.
  const bool bf16 = h.dtype() == DType::BF16;
  kernels::TensorOperand ho(h), wo(w);
  // An online logsumexp over the blocks: each row keeps its running max and the sum of exp(z -
  // max), rescaled when the max grows, so W is read once by products of all M rows.
  std::vector<float> mx(static_cast<size_t>(M), -std::numeric_limits<float>::infinity()),
      se(static_cast<size_t>(M), 0.0f), zt(static_cast<size_t>(M), 0.0f);
  std::vector<float> z(static_cast<size_t>(M * Vb));
  for (int64_t c0 = 0; c0 < V; c0 += Vb) {
    const int64_t n = std::min(Vb, V - c0);
    block_logits(ho, wo, M, D, c0, n, z.data(), bf16);
    parallel_for(M, 16, [&](int64_t a, int64_t b) {
      for (int64_t r = a; r < b; ++r) {
        if (tg[r] < 0) continue;
        float* zr = &z[r * n];
        if (in_block(tg[r], v0 + c0, n)) zt[r] = zr[tg[r] - v0 - c0];
        const float m = std::max(mx[r], *std::max_element(zr, zr + n));
        se[r] = se[r] * std::exp(mx[r] - m) + kernels::exp_shifted(zr, n, m);
        mx[r] = m;
      }
    });
  }
  // Per row: log(sum(exp(z))) over all the vocabulary, which the backward pass needs, and the
  // loss. A split vocabulary joins the processes' logsumexps, and the target logit from its owner.
  auto lse = std::make_shared<std::vector<float>>(static_cast<size_t>(M), 0.0f);
  for (int64_t r = 0; r < M; ++r)
    if (tg[r] >= 0) (*lse)[r] = mx[r] + std::log(se[r]);
  if (split) {
    std::vector<float> each(static_cast<size_t>(split->size * M));
    split->all(lse->data(), each.data(), M);
    for (int64_t r = 0; r < M; ++r) {
      float m = each[r], s = 0;
      for (int p = 1; p < split->size; ++p) m = std::max(m, each[p * M + r]);
      for (int p = 0; p < split->size; ++p) s += std::exp(each[p * M + r] - m);
      (*lse)[r] = m + std::log(s);
    }
    split->over(zt.data(), M);
  }
  double total = 0;
  for (int64_t r = 0; r < M; ++r)
    if (tg[r] >= 0) total += double((*lse)[r]) - zt[r];
  Tensor loss = Tensor::from_f32({float(total / double(counted))}, {1});
  std::optional<GroupSum> sum_dh;
  if (split) sum_dh = split->over;
  if (track(loss, {&h, &w})) {
    Tape::active()->record(loss, [h, w, targets, loss, lse, M, D, V, Vb, v0, counted, bf16,
                                  sum_dh]() mutable {
      const float dl = loss.grad().data<float>()[0] / float(counted);
      kernels::TensorOperand ho(h), wo(w);
      const int32_t* tg = targets.data<int32_t>();
      std::vector<float> z(static_cast<size_t>(M * Vb));
      // This process's part of dh is summed over the group when the vocabulary is split.
      std::vector<float> part(h.requires_grad() && sum_dh ? size_t(M * D) : 0, 0.0f);
      float* dh = !h.requires_grad() ? nullptr
                  : sum_dh           ? part.data()
                                     : h.ensure_grad().data<float>();
      bool dw_acc = false;  // the blocks write every row of dW
      float* dw = w.requires_grad() ? w.grad_to_write(&dw_acc).data<float>() : nullptr;
      for (int64_t c0 = 0; c0 < V; c0 += Vb) {
        const int64_t n = std::min(Vb, V - c0);
        block_logits(ho, wo, M, D, c0, n, z.data(), bf16);
        parallel_for(M, 16, [&](int64_t a, int64_t b) {
          for (int64_t r = a; r < b; ++r) {  // z becomes d loss / d logits: softmax - one-hot
            float* zr = &z[r * n];
            if (tg[r] < 0) {
              std::fill(zr, zr + n, 0.0f);
              continue;
            }
            kernels::exp_shifted(zr, n, (*lse)[r], dl);
            if (in_block(tg[r], v0 + c0, n)) zr[tg[r] - v0 - c0] -= dl;
          }
        });
        // dh += dz W[block], dW[block] += dz^T h
        if (dh)
          kernels::gemm(M, D, n, kernels::rows(z.data(), n), wo.cols(D, c0 * D), dh, D, true, bf16);
        if (dw)
          kernels::gemm(n, D, M, kernels::cols(z.data(), n), ho.cols(D), dw + c0 * D, D, dw_acc,
                        bf16);
      }
      if (dh && sum_dh) {
        (*sum_dh)(part.data(), M * D);
        accumulate_grad(h, part.data());
      }
    });
  }
  return loss;
}

}  // namespace purelm
