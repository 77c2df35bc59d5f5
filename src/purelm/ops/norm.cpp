#include "purelm/ops/norm.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <optional>
#include <vector>

#include "purelm/core/thread_pool.h"
#include "purelm/ops/autograd.h"
#include "purelm/ops/kernels/vec.h"
#include "purelm/ops/parallel.h"
#include "purelm/ops/rows.h"

namespace purelm {

namespace {

// Per-row sums in double, made whole over the group when the normalised axis is split. The last
// entry of the all-reduce carries `n`, so the sum also yields the whole row's length.
struct RowSums {
  std::vector<double> sum;
  double count;
};
RowSums over_group(std::vector<double> sum, int64_t n, const std::optional<GroupSum>& over) {
  if (!over) return {std::move(sum), double(n)};
  std::vector<float> part(sum.begin(), sum.end());
  part.push_back(float(n));
  (*over)(part.data(), int64_t(part.size()));
  return {std::vector<double>(part.begin(), part.end() - 1), double(part.back())};
}

// 1 / rms of each of the `rows` rows of x (length n here).
std::vector<float> inv_rms(const Tensor& x, int64_t n, int64_t rows, float eps,
                           const std::optional<GroupSum>& over, double* count) {
  std::vector<double> ss(static_cast<size_t>(rows));
  parallel_for(rows, 16, [&](int64_t r0, int64_t r1) {
    std::vector<float> row(static_cast<size_t>(n));
    for (int64_t r = r0; r < r1; ++r) {
      load_f32(x, r * n, n, row.data());
      ss[r] = kernels::sum_squares(row.data(), n);
    }
  });
  RowSums whole = over_group(std::move(ss), n, over);
  *count = whole.count;
  std::vector<float> s(static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) s[r] = float(1.0 / std::sqrt(whole.sum[r] / *count + eps));
  return s;
}

}  // namespace

Tensor rmsnorm(const Tensor& x, const Weight& w, float eps) {
  check_float(x, "rmsnorm", "input");
  check_float(w, "rmsnorm", "weight");
  int64_t n = x.dim(-1), rows = x.numel() / n;
  check(w.numel() == n, "rmsnorm: weight ", w.shape(), " does not match input ", x.shape());
  // A split weight (ops/parallel.h) holds this process's part of the normalised axis.
  std::optional<GroupSum> over;
  if (w.split) over = w.split->over;
  double count = 0;
  auto s = std::make_shared<std::vector<float>>(inv_rms(x, n, rows, eps, over, &count));
  Tensor y = Tensor::empty(x.shape(), x.dtype());
  F32View wf(w);
  parallel_for(rows, 16, [&](int64_t r0, int64_t r1) {
    std::vector<float> row(static_cast<size_t>(n));
    for (int64_t r = r0; r < r1; ++r) {
      load_f32(x, r * n, n, row.data());
      kernels::scale_mul(row.data(), (*s)[r], wf.data(), row.data(), n);
      store_f32(y, r * n, n, row.data());
    }
  });
  if (track(y, {&x, &w})) {
    Tape::active()->record(y, [x, w, y, s, over, count, n, rows]() mutable {
      if (!y.has_grad()) return;
      const float* dy = y.grad().data<float>();
      F32View wf(w);
      float* dx = x.requires_grad() ? x.ensure_grad().data<float>() : nullptr;
      // dx needs each row's sum of dy * w * x over the whole (possibly split) row.
      std::vector<double> dots(static_cast<size_t>(rows), 0.0);
      if (dx) {
        parallel_for(rows, 16, [&](int64_t r0, int64_t r1) {
          std::vector<float> xr(static_cast<size_t>(n));
          for (int64_t r = r0; r < r1; ++r) {
            load_f32(x, r * n, n, xr.data());
            dots[r] = kernels::sum_products(dy + r * n, wf.data(), xr.data(), n);
          }
        });
        dots = over_group(std::move(dots), n, over).sum;
      }
      // dw is summed per block of kRowBlock rows, then over the blocks in order: the same sums
      // whatever the number of threads.
      constexpr int64_t kRowBlock = 64;
      int64_t blocks = (rows + kRowBlock - 1) / kRowBlock;
      std::vector<float> part(static_cast<size_t>(blocks * n), 0.0f);
      parallel_for(blocks, 1, [&](int64_t b0, int64_t b1) {
        std::vector<float> xr(static_cast<size_t>(n));
        for (int64_t r = b0 * kRowBlock; r < std::min(rows, b1 * kRowBlock); ++r) {
          load_f32(x, r * n, n, xr.data());
          const float sr = (*s)[r];
          const float c = dx ? float(dots[r]) * sr * sr * sr / float(count) : 0.0f;
          kernels::rmsnorm_backward(dy + r * n, xr.data(), wf.data(), sr, c,
                                    &part[(r / kRowBlock) * n], dx ? dx + r * n : nullptr, n);
        }
      });
      std::vector<float> dw(static_cast<size_t>(n), 0.0f);
      for (int64_t b = 0; b < blocks; ++b) kernels::add(dw.data(), &part[b * n], dw.data(), n);
      accumulate_grad(w, dw.data());
      y.release_grad();
    });
  }
  return y;
}

}  // namespace purelm
