#include "purelm/ops/norm.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "purelm/core/thread_pool.h"
#include "purelm/ops/autograd.h"
#include "purelm/ops/rows.h"

namespace purelm {

namespace {
float inv_rms(const float* x, int64_t n, float eps) {
  double ss = 0;
  for (int64_t i = 0; i < n; ++i) ss += double(x[i]) * x[i];
  return float(1.0 / std::sqrt(ss / double(n) + eps));
}
}  // namespace

Tensor rmsnorm(const Tensor& x, const Tensor& w, float eps) {
  check_float(x, "rmsnorm", "input");
  check_float(w, "rmsnorm", "weight");
  int64_t n = x.dim(-1), rows = x.numel() / n;
  check(w.numel() == n, "rmsnorm: weight ", to_string(w.shape()), " does not match input ",
        to_string(x.shape()));
  Tensor y = Tensor::empty(x.shape(), x.dtype());
  F32View wf(w);
  parallel_for(rows, 16, [&](int64_t r0, int64_t r1) {
    std::vector<float> row(static_cast<size_t>(n));
    for (int64_t r = r0; r < r1; ++r) {
      load_f32(x, r * n, n, row.data());
      float s = inv_rms(row.data(), n, eps);
      for (int64_t i = 0; i < n; ++i) row[i] = row[i] * s * wf.data()[i];
      store_f32(y, r * n, n, row.data());
    }
  });
  if (track(y, {&x, &w})) {
    Tape::active()->record([x, w, y, eps, n, rows]() mutable {
      if (!y.has_grad()) return;
      const float* dy = y.grad().data<float>();
      F32View wf(w);
      float* dx = x.requires_grad() ? x.ensure_grad().data<float>() : nullptr;
      // dw is summed per block of kRowBlock rows, then over the blocks in order: the same sums
      // whatever the number of threads.
      constexpr int64_t kRowBlock = 64;
      int64_t blocks = (rows + kRowBlock - 1) / kRowBlock;
      std::vector<float> part(static_cast<size_t>(blocks * n), 0.0f);
      parallel_for(blocks, 1, [&](int64_t b0, int64_t b1) {
        std::vector<float> xr(static_cast<size_t>(n));
        for (int64_t r = b0 * kRowBlock; r < std::min(rows, b1 * kRowBlock); ++r) {
          load_f32(x, r * n, n, xr.data());
          float* dwb = &part[(r / kRowBlock) * n];
          const float* g = dy + r * n;
          float s = inv_rms(xr.data(), n, eps);
          double dot = 0;  // sum of dy * w * x
          for (int64_t i = 0; i < n; ++i) {
            dot += double(g[i]) * wf.data()[i] * xr[i];
            dwb[i] += g[i] * xr[i] * s;
          }
          if (dx) {
            float c = float(dot) * s * s * s / float(n);
            for (int64_t i = 0; i < n; ++i) dx[r * n + i] += g[i] * wf.data()[i] * s - xr[i] * c;
          }
        }
      });
      std::vector<float> dw(static_cast<size_t>(n), 0.0f);
      for (int64_t b = 0; b < blocks; ++b)
        for (int64_t i = 0; i < n; ++i) dw[i] += part[b * n + i];
      accumulate_grad(w, dw.data());
      y.zero_grad();
    });
  }
  return y;
}

}  // namespace purelm
