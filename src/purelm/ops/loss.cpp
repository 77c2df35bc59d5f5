#include "purelm/ops/loss.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "purelm/core/thread_pool.h"
#include "purelm/ops/autograd.h"
#include "purelm/ops/kernels/gemm.h"
#include "purelm/ops/kernels/operand.h"
#include "purelm/ops/kernels/vec.h"
#include "purelm/ops/rows.h"

namespace purelm {

namespace {

// Rows of logits per chunk: about a megabyte of them, so the [M, V] logits are never held whole
// while each product with W is still tall enough to pay for packing W.
int64_t chunk_rows(int64_t V) { return std::max<int64_t>(32, (int64_t(1) << 18) / V); }

// log(sum(exp(z))) of one row of logits; overwrites z with exp(z - max).
float logsumexp(float* z, int64_t V) {
  float m = *std::max_element(z, z + V);
  return m + std::log(kernels::exp_shifted(z, V, m));
}

}  // namespace

Tensor cross_entropy_head(const Tensor& h, const Tensor& w, const Tensor& targets) {
  check_float(h, "cross_entropy", "hidden states");
  check_float(w, "cross_entropy", "output weight");
  check(h.rank() == 2 && w.rank() == 2 && h.dim(1) == w.dim(1), "cross_entropy: hidden ",
        to_string(h.shape()), " does not match output weight ", to_string(w.shape()));
  check(targets.dtype() == DType::I32 && targets.numel() == h.dim(0),
        "cross_entropy: targets must be I32 with one entry per row");
  int64_t M = h.dim(0), D = h.dim(1), V = w.dim(0);
  const int32_t* tg = targets.data<int32_t>();
  int64_t counted = 0;
  for (int64_t i = 0; i < M; ++i) {
    check(tg[i] >= -1 && tg[i] < V, "cross_entropy: target ", std::to_string(tg[i]),
          " outside vocabulary");
    counted += tg[i] >= 0;
  }
  check(counted > 0, "cross_entropy: no position has a target");
  // Hidden states in float32 (the loss stays in f32 whatever the compute dtype); W in place. With
  // bf16 hidden states the products with W are bf16 ones, as in linear().
  bool bf16 = h.dtype() == DType::BF16;
  F32View hf(h);
  kernels::TensorOperand wo(w);
  std::vector<double> row_loss(static_cast<size_t>(M), 0.0);
  int64_t chunk = chunk_rows(V);
  std::vector<float> logits(static_cast<size_t>(chunk * V));
  for (int64_t r0 = 0; r0 < M; r0 += chunk) {
    int64_t n = std::min(chunk, M - r0);
    kernels::gemm(n, V, D, kernels::rows(hf.data() + r0 * D, D), wo.rows(D), logits.data(), V,
                  false, bf16);
    parallel_for(n, 1, [&](int64_t a, int64_t b) {
      for (int64_t r = a; r < b; ++r) {
        if (tg[r0 + r] < 0) continue;
        float target_logit = logits[r * V + tg[r0 + r]];
        row_loss[r0 + r] = double(logsumexp(&logits[r * V], V)) - target_logit;
      }
    });
  }
  double total = 0;
  for (double l : row_loss) total += l;
  Tensor loss = Tensor::from_f32({float(total / double(counted))}, {1});
  if (track(loss, {&h, &w})) {
    Tape::active()->record([h, w, targets, loss, M, D, V, counted, bf16]() mutable {
      float dl = loss.grad().data<float>()[0] / float(counted);
      F32View hf(h);
      kernels::TensorOperand wo(w);
      const int32_t* tg = targets.data<int32_t>();
      std::vector<float> dh(static_cast<size_t>(M * D), 0.0f),
          dw(w.requires_grad() ? size_t(V * D) : 0, 0.0f);
      int64_t chunk = chunk_rows(V);
      std::vector<float> z(static_cast<size_t>(chunk * V));
      for (int64_t r0 = 0; r0 < M; r0 += chunk) {
        int64_t n = std::min(chunk, M - r0);
        const float* hc = hf.data() + r0 * D;
        kernels::gemm(n, V, D, kernels::rows(hc, D), wo.rows(D), z.data(), V, false, bf16);
        parallel_for(n, 1, [&](int64_t a, int64_t b) {
          for (int64_t r = a; r < b; ++r) {  // z becomes d loss / d logits: softmax - one-hot
            float* zr = &z[r * V];
            if (tg[r0 + r] < 0) {
              std::fill(zr, zr + V, 0.0f);
              continue;
            }
            float m = *std::max_element(zr, zr + V);
            float c = dl / kernels::exp_shifted(zr, V, m);
            for (int64_t i = 0; i < V; ++i) zr[i] *= c;
            zr[tg[r0 + r]] -= dl;
          }
        });
        // dh[chunk] = dz W, dW += dz^T h[chunk]
        kernels::gemm(n, D, V, kernels::rows(z.data(), V), wo.cols(D), &dh[r0 * D], D, false, bf16);
        if (!dw.empty())
          kernels::gemm(V, D, n, kernels::cols(z.data(), V), kernels::cols(hc, D), dw.data(), D,
                        true, bf16);
      }
      accumulate_grad(h, dh.data());
      if (!dw.empty()) accumulate_grad(w, dw.data());
    });
  }
  return loss;
}

}  // namespace purelm
