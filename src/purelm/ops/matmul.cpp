#include "purelm/ops/matmul.h"

#include <memory>
#include <optional>
#include <vector>

#include "purelm/ops/autograd.h"
#include "purelm/ops/kernels/backend.h"
#include "purelm/ops/kernels/gemm.h"
#include "purelm/ops/kernels/operand.h"
#include "purelm/ops/kernels/quant_gemm.h"
#include "purelm/ops/parallel.h"
#include "purelm/ops/rows.h"

namespace purelm {

static_assert(kRowInvariantRows == kernels::kStreamRows);

namespace {

// y = x W^T with a block-quantized W, in float32 (bf16 activations are widened). Inference only:
// nothing is recorded, and an input that needs a gradient is refused rather than dropped.
Tensor linear_quantized(const Tensor& x, const Weight& w, int64_t M, int64_t N, int64_t K,
                        const Shape& out_shape) {
  check(!(Tape::active() && x.requires_grad()), "linear: no gradient flows through ",
        dtype_name(w.dtype()), " weights: quantization is for inference only");
  F32View xf(x);
  Tensor y = Tensor::empty(out_shape, x.dtype());
  F32Sink yf(y, 0, M * N);
  kernels::QMat wq{w.raw(), w.dtype(), int64_t(row_bytes(w.dtype(), K))};
  kernels::gemm_quant(M, N, K, xf.data(), K, wq, yf.data(), N, x.dtype() == DType::BF16);
  const SplitMark* mark = w.split;
  if (mark && mark->split == Split::In) mark->over(yf.data(), M * N);
  yf.commit();
  return y;
}

}  // namespace

Tensor linear(const Tensor& x, const Weight& w) {
  check_float(x, "linear", "input");
  if (!w.defined() || !is_quantized(w.dtype())) check_float(w, "linear", "weight");
  check(w.rank() == 2 && x.dim(-1) == w.dim(1), "linear: input ", x.shape(),
        " does not match weight ", w.shape());
  int64_t K = w.dim(1), N = w.dim(0), M = x.numel() / K;
  Shape out_shape = x.shape();
  out_shape.back() = N;
  if (is_quantized(w.dtype())) return linear_quantized(x, w, M, N, K, out_shape);
  Tensor y = Tensor::empty(out_shape, x.dtype());
  // Operands in their storage types. f32 activations keep f32 products (a bf16 W is widened); bf16
  // activations mean bf16 compute: all three products round their operands to bf16 (f32 master
  // weights and gradients included) and sum in f32, as PyTorch's autocast does.
  bool bf16 = x.dtype() == DType::BF16;
  kernels::TensorOperand xo(x), wo(w);
  const SplitMark* mark = w.split;
  if (y.dtype() == DType::F32) {
    kernels::gemm(M, N, K, xo.rows(K), wo.rows(K), y.data<float>(), N, false, bf16);
    if (mark && mark->split == Split::In) mark->over(y.data<float>(), M * N);
  } else {
    auto yf = std::make_unique_for_overwrite<float[]>(size_t(M * N));
    kernels::gemm(M, N, K, xo.rows(K), wo.rows(K), yf.get(), N, false, bf16);
    if (mark && mark->split == Split::In) mark->over(yf.get(), M * N);
    store_f32(y, 0, M * N, yf.get());
  }
  if (track(y, {&x, &w})) {
    std::optional<GroupSum> sum_dx;
    if (mark && mark->split == Split::Out) sum_dx = mark->over;
    Tape::active()->record(y, [x, w, y, M, N, K, sum_dx, bf16]() mutable {
      if (!y.has_grad()) return;
      const float* dy = y.grad().data<float>();
      kernels::TensorOperand xo(x), wo(w);
      if (x.requires_grad() && sum_dx) {  // this process's part of dx, which the group sums
        std::vector<float> dx(static_cast<size_t>(M * K));
        kernels::gemm(M, K, N, kernels::rows(dy, N), wo.cols(K), dx.data(), K, false, bf16);
        accumulate_partial_grad(x, dx.data(), *sum_dx);
      } else if (x.requires_grad()) {  // dx[M, K] += dy[M, N] W[N, K]
        bool acc = false;
        float* dx = x.grad_to_write(&acc).data<float>();
        kernels::gemm(M, K, N, kernels::rows(dy, N), wo.cols(K), dx, K, acc, bf16);
      }
      if (w.requires_grad()) {  // dW[N, K] += dy^T[N, M] x[M, K]
        bool acc = false;
        float* dw = w.grad_to_write(&acc).data<float>();
        kernels::gemm(N, K, M, kernels::cols(dy, N), xo.cols(K), dw, K, acc, bf16);
      }
      y.release_grad();
    });
  }
  return y;
}

Tensor linear_whole(const Tensor& x, const Weight& w) {
  Tensor part = linear(x, w);
  const SplitMark* mark = w.split;
  if (!mark || mark->split != Split::Out) return part;
  const int64_t n = part.dim(-1), M = part.numel() / n, P = mark->size, r = mark->rank;
  std::vector<float> mine(static_cast<size_t>(M * n)), all(static_cast<size_t>(P * M * n));
  load_f32(part, 0, M * n, mine.data());
  mark->all(mine.data(), all.data(), M * n);
  Shape shape = part.shape();
  shape.back() = P * n;
  Tensor y = Tensor::empty(shape, part.dtype());
  std::vector<float> row(static_cast<size_t>(P * n));
  for (int64_t i = 0; i < M; ++i) {  // [P, M, n] -> [M, P * n]
    for (int64_t p = 0; p < P; ++p) std::copy_n(&all[(p * M + i) * n], n, &row[p * n]);
    store_f32(y, i * P * n, P * n, row.data());
  }
  if (track(y, {&part})) {
    Tape::active()->record(y, [part, y, M, n, P, r]() mutable {
      if (!y.has_grad()) return;
      const float* dy = y.grad().data<float>();
      float* dp = part.ensure_grad().data<float>();
      for (int64_t i = 0; i < M; ++i)
        for (int64_t j = 0; j < n; ++j) dp[i * n + j] += dy[i * P * n + r * n + j];
      y.release_grad();
    });
  }
  return y;
}

}  // namespace purelm
