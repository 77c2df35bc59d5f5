#include "purelm/ops/loss.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <vector>

#include "purelm/core/thread_pool.h"
#include "purelm/ops/autograd.h"
#include "purelm/ops/kernels/gemm.h"
#include "purelm/ops/kernels/operand.h"
#include "purelm/ops/kernels/vec.h"
#include "purelm/ops/rows.h"

namespace purelm {

namespace {

// Vocabulary rows per block: about 16 MB of [M, block] logits, and never so few that repacking
// the hidden states for every block outweighs the product.
int64_t vocab_block(int64_t M, int64_t V, int64_t asked) {
  if (asked > 0) return std::min(asked, V);
  return std::min(V, std::max<int64_t>(128, ((int64_t(1) << 22) / M + 31) / 32 * 32));
}

// z[M, n] = h W[v0 : v0 + n]^T: logits of one vocabulary block for every row.
void block_logits(const kernels::TensorOperand& ho, const kernels::TensorOperand& wo, int64_t M,
                  int64_t D, int64_t v0, int64_t n, float* z, bool bf16) {
  kernels::gemm(M, n, D, ho.rows(D), wo.rows(D, v0 * D), z, n, false, bf16);
}

}  // namespace

Tensor cross_entropy_head(const Tensor& h, const Tensor& w, const Tensor& targets, int64_t block) {
  check_float(h, "cross_entropy", "hidden states");
  check_float(w, "cross_entropy", "output weight");
  check(h.rank() == 2 && w.rank() == 2 && h.dim(1) == w.dim(1), "cross_entropy: hidden ",
        to_string(h.shape()), " does not match output weight ", to_string(w.shape()));
  check(targets.dtype() == DType::I32 && targets.numel() == h.dim(0),
        "cross_entropy: targets must be I32 with one entry per row");
  const int64_t M = h.dim(0), D = h.dim(1), V = w.dim(0), Vb = vocab_block(M, V, block);
  const int32_t* tg = targets.data<int32_t>();
  int64_t counted = 0;
  for (int64_t i = 0; i < M; ++i) {
    check(tg[i] >= -1 && tg[i] < V, "cross_entropy: target ", std::to_string(tg[i]),
          " outside vocabulary");
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
  for (int64_t v0 = 0; v0 < V; v0 += Vb) {
    const int64_t n = std::min(Vb, V - v0);
    block_logits(ho, wo, M, D, v0, n, z.data(), bf16);
    parallel_for(M, 16, [&](int64_t a, int64_t b) {
      for (int64_t r = a; r < b; ++r) {
        if (tg[r] < 0) continue;
        float* zr = &z[r * n];
        if (tg[r] >= v0 && tg[r] < v0 + n) zt[r] = zr[tg[r] - v0];
        const float m = std::max(mx[r], *std::max_element(zr, zr + n));
        se[r] = se[r] * std::exp(mx[r] - m) + kernels::exp_shifted(zr, n, m);
        mx[r] = m;
      }
    });
  }
  // Per row: log(sum(exp(z))), which the backward pass needs, and the loss.
  auto lse = std::make_shared<std::vector<float>>(static_cast<size_t>(M), 0.0f);
  double total = 0;
  for (int64_t r = 0; r < M; ++r) {
    if (tg[r] < 0) continue;
    (*lse)[r] = mx[r] + std::log(se[r]);
    total += double((*lse)[r]) - zt[r];
  }
  Tensor loss = Tensor::from_f32({float(total / double(counted))}, {1});
  if (track(loss, {&h, &w})) {
    Tape::active()->record([h, w, targets, loss, lse, M, D, V, Vb, counted, bf16]() mutable {
      const float dl = loss.grad().data<float>()[0] / float(counted);
      kernels::TensorOperand ho(h), wo(w);
      const int32_t* tg = targets.data<int32_t>();
      std::vector<float> z(static_cast<size_t>(M * Vb));
      float* dh = h.requires_grad() ? h.ensure_grad().data<float>() : nullptr;
      float* dw = w.requires_grad() ? w.ensure_grad().data<float>() : nullptr;
      for (int64_t v0 = 0; v0 < V; v0 += Vb) {
        const int64_t n = std::min(Vb, V - v0);
        block_logits(ho, wo, M, D, v0, n, z.data(), bf16);
        parallel_for(M, 16, [&](int64_t a, int64_t b) {
          for (int64_t r = a; r < b; ++r) {  // z becomes d loss / d logits: softmax - one-hot
            float* zr = &z[r * n];
            if (tg[r] < 0) {
              std::fill(zr, zr + n, 0.0f);
              continue;
            }
            kernels::exp_shifted(zr, n, (*lse)[r], dl);
            if (tg[r] >= v0 && tg[r] < v0 + n) zr[tg[r] - v0] -= dl;
          }
        });
        // dh += dz W[block], dW[block] += dz^T h
        if (dh)
          kernels::gemm(M, D, n, kernels::rows(z.data(), n), wo.cols(D, v0 * D), dh, D, true, bf16);
        if (dw)
          kernels::gemm(n, D, M, kernels::cols(z.data(), n), ho.cols(D), dw + v0 * D, D, true,
                        bf16);
      }
    });
  }
  return loss;
}

}  // namespace purelm
