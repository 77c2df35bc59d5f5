#include "purelm/ops/matmul.h"

#include <vector>

#include "purelm/core/thread_pool.h"
#include "purelm/ops/autograd.h"
#include "purelm/ops/kernels/vec.h"
#include "purelm/ops/rows.h"

namespace purelm {

namespace {

// W as float32 rows: borrowed when it already is, converted block by block otherwise, so a bf16
// weight matrix is never copied whole.
void matmul_any(const float* x, const Tensor& w, float* y, int64_t M) {
  int64_t N = w.dim(0), K = w.dim(1);
  if (w.dtype() == DType::F32) return kernels::matmul_nt(x, w.data<float>(), y, M, N, K);
  parallel_for(N, 16, [&](int64_t n0, int64_t n1) {
    constexpr int64_t kBlock = 16;
    std::vector<float> rows(static_cast<size_t>(kBlock * K));
    for (int64_t b0 = n0; b0 < n1; b0 += kBlock) {
      int64_t bn = std::min(kBlock, n1 - b0);
      load_f32(w, b0 * K, bn * K, rows.data());
      for (int64_t m = 0; m < M; ++m)
        for (int64_t n = 0; n < bn; ++n)
          y[m * N + b0 + n] = kernels::dot(x + m * K, rows.data() + n * K, K);
    }
  });
}

}  // namespace

Tensor linear(const Tensor& x, const Tensor& w) {
  check_float(x, "linear", "input");
  check_float(w, "linear", "weight");
  check(w.rank() == 2 && x.dim(-1) == w.dim(1), "linear: input ", to_string(x.shape()),
        " does not match weight ", to_string(w.shape()));
  int64_t K = w.dim(1), N = w.dim(0), M = x.numel() / K;
  Shape out_shape = x.shape();
  out_shape.back() = N;
  Tensor y = Tensor::empty(out_shape, x.dtype());
  F32View xf(x);
  if (y.dtype() == DType::F32) {
    matmul_any(xf.data(), w, y.data<float>(), M);
  } else {
    std::vector<float> yf(static_cast<size_t>(M * N));
    matmul_any(xf.data(), w, yf.data(), M);
    store_f32(y, 0, M * N, yf.data());
  }
  if (track(y, {&x, &w})) {
    Tape::active()->record([x, w, y, M, N, K]() mutable {
      if (!y.has_grad()) return;
      const float* dy = y.grad().data<float>();
      F32View xf(x), wf(w);
      if (x.requires_grad()) {  // dx[M, K] = dy[M, N] W[N, K]
        float* dx = x.ensure_grad().data<float>();
        parallel_for(M, 4, [&](int64_t m0, int64_t m1) {
          for (int64_t m = m0; m < m1; ++m)
            for (int64_t n = 0; n < N; ++n) kernels::axpy(dy[m * N + n], wf.data() + n * K, dx + m * K, K);
        });
      }
      if (w.requires_grad()) {  // dW[N, K] += dy^T[N, M] x[M, K]
        float* dw = w.ensure_grad().data<float>();
        parallel_for(N, 8, [&](int64_t n0, int64_t n1) {
          for (int64_t n = n0; n < n1; ++n)
            for (int64_t m = 0; m < M; ++m) kernels::axpy(dy[m * N + n], xf.data() + m * K, dw + n * K, K);
        });
      }
      y.zero_grad();
    });
  }
  return y;
}

}  // namespace purelm
