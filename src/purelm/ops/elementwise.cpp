#include "purelm/ops/elementwise.h"

#include <cmath>
#include <vector>

#include "purelm/core/thread_pool.h"
#include "purelm/ops/autograd.h"
#include "purelm/ops/kernels/vec.h"
#include "purelm/ops/rows.h"

namespace purelm {

Tensor add(const Tensor& a, const Tensor& b) {
  check_float(a, "add", "a");
  check_float(b, "add", "b");
  check(a.shape() == b.shape(), "add: shapes ", a.shape(), " and ", b.shape(), " differ");
  Tensor y = Tensor::empty(a.shape(), a.dtype());
  parallel_for(y.numel(), kElementGrain, [&](int64_t i0, int64_t i1) {
    F32View af(a, i0, i1 - i0), bf(b, i0, i1 - i0);
    F32Sink out(y, i0, i1 - i0);
    kernels::add(af.data(), bf.data(), out.data(), i1 - i0);
    out.commit();
  });
  if (track(y, {&a, &b})) {
    Tape::active()->record(y, [a, b, y]() mutable {
      if (!y.has_grad()) return;
      accumulate_grad(a, y.grad().data<float>());
      accumulate_grad(b, y.grad().data<float>());
      y.release_grad();
    });
  }
  return y;
}

Tensor swiglu(const Tensor& gate, const Tensor& up) {
  check_float(gate, "swiglu", "gate");
  check_float(up, "swiglu", "up");
  check(gate.shape() == up.shape(), "swiglu: shapes ", gate.shape(), " and ", up.shape(),
        " differ");
  Tensor y = Tensor::empty(gate.shape(), gate.dtype());
  parallel_for(y.numel(), kElementGrain, [&](int64_t i0, int64_t i1) {
    F32View g(gate, i0, i1 - i0), u(up, i0, i1 - i0);
    F32Sink out(y, i0, i1 - i0);
    kernels::swiglu(g.data(), u.data(), out.data(), i1 - i0);
    out.commit();
  });
  if (track(y, {&gate, &up})) {
    Tape::active()->record(y, [gate, up, y]() mutable {
      if (!y.has_grad()) return;
      const float* dy = y.grad().data<float>();
      int64_t n = y.numel();
      std::vector<float> dg(static_cast<size_t>(n)), du(static_cast<size_t>(n));
      parallel_for(n, kElementGrain, [&](int64_t i0, int64_t i1) {
        F32View g(gate, i0, i1 - i0), u(up, i0, i1 - i0);
        kernels::swiglu_backward(g.data(), u.data(), dy + i0, &dg[i0], &du[i0], i1 - i0);
      });
      accumulate_grad(gate, dg.data());
      accumulate_grad(up, du.data());
      y.release_grad();
    });
  }
  return y;
}

Tensor scale_rows(const Tensor& x, const Tensor& s) {
  check_float(x, "scale_rows", "x");
  check_float(s, "scale_rows", "scale");
  check(x.rank() == 2 && s.numel() == x.dim(0), "scale_rows: x ", x.shape(), " and scale ",
        s.shape(), " do not match");
  int64_t R = x.dim(0), C = x.dim(1);
  F32View xf(x), sf(s);
  std::vector<float> out(static_cast<size_t>(x.numel()));
  for (int64_t r = 0; r < R; ++r)
    for (int64_t c = 0; c < C; ++c) out[r * C + c] = xf.data()[r * C + c] * sf.data()[r];
  Tensor y = Tensor::empty(x.shape(), x.dtype());
  store_f32(y, 0, y.numel(), out.data());
  if (track(y, {&x, &s})) {
    Tape::active()->record(y, [x, s, y, R, C]() mutable {
      if (!y.has_grad()) return;
      const float* dy = y.grad().data<float>();
      F32View xf(x), sf(s);
      std::vector<float> dx(static_cast<size_t>(R * C)), ds(static_cast<size_t>(R), 0.0f);
      for (int64_t r = 0; r < R; ++r) {
        for (int64_t c = 0; c < C; ++c) {
          dx[r * C + c] = dy[r * C + c] * sf.data()[r];
          ds[r] += dy[r * C + c] * xf.data()[r * C + c];
        }
      }
      accumulate_grad(x, dx.data());
      accumulate_grad(s, ds.data());
      y.release_grad();
    });
  }
  return y;
}

Tensor reshape(const Tensor& x, const Shape& shape) {
  Tensor y = x.view(shape);
  if (track(y, {&x})) {
    Tape::active()->record(y, [x, y]() mutable {
      if (!y.has_grad()) return;
      accumulate_grad(x, y.grad().data<float>());
      y.release_grad();
    });
  }
  return y;
}

}  // namespace purelm
