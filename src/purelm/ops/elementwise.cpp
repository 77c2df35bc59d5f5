#include "purelm/ops/elementwise.h"

#include <cmath>
#include <vector>

#include "purelm/ops/autograd.h"
#include "purelm/ops/rows.h"

namespace purelm {

namespace {
float sigmoid(float z) { return 1.0f / (1.0f + std::exp(-z)); }
}  // namespace

Tensor add(const Tensor& a, const Tensor& b) {
  check_float(a, "add", "a");
  check_float(b, "add", "b");
  check(a.shape() == b.shape(), "add: shapes ", to_string(a.shape()), " and ", to_string(b.shape()),
        " differ");
  F32View af(a), bf(b);
  std::vector<float> out(static_cast<size_t>(a.numel()));
  for (int64_t i = 0; i < a.numel(); ++i) out[i] = af.data()[i] + bf.data()[i];
  Tensor y = Tensor::empty(a.shape(), a.dtype());
  store_f32(y, 0, y.numel(), out.data());
  if (track(y, {&a, &b})) {
    Tape::active()->record([a, b, y]() mutable {
      if (!y.has_grad()) return;
      accumulate_grad(a, y.grad().data<float>());
      accumulate_grad(b, y.grad().data<float>());
      y.zero_grad();
    });
  }
  return y;
}

Tensor swiglu(const Tensor& gate, const Tensor& up) {
  check_float(gate, "swiglu", "gate");
  check_float(up, "swiglu", "up");
  check(gate.shape() == up.shape(), "swiglu: shapes ", to_string(gate.shape()), " and ",
        to_string(up.shape()), " differ");
  F32View g(gate), u(up);
  std::vector<float> out(static_cast<size_t>(gate.numel()));
  for (int64_t i = 0; i < gate.numel(); ++i)
    out[i] = g.data()[i] * sigmoid(g.data()[i]) * u.data()[i];
  Tensor y = Tensor::empty(gate.shape(), gate.dtype());
  store_f32(y, 0, y.numel(), out.data());
  if (track(y, {&gate, &up})) {
    Tape::active()->record([gate, up, y]() mutable {
      if (!y.has_grad()) return;
      const float* dy = y.grad().data<float>();
      F32View g(gate), u(up);
      int64_t n = y.numel();
      std::vector<float> dg(static_cast<size_t>(n)), du(static_cast<size_t>(n));
      for (int64_t i = 0; i < n; ++i) {
        float z = g.data()[i], s = sigmoid(z);
        du[i] = dy[i] * z * s;
        dg[i] = dy[i] * u.data()[i] * s * (1 + z * (1 - s));
      }
      accumulate_grad(gate, dg.data());
      accumulate_grad(up, du.data());
      y.zero_grad();
    });
  }
  return y;
}

Tensor scale_rows(const Tensor& x, const Tensor& s) {
  check_float(x, "scale_rows", "x");
  check_float(s, "scale_rows", "scale");
  check(x.rank() == 2 && s.numel() == x.dim(0), "scale_rows: x ", to_string(x.shape()),
        " and scale ", to_string(s.shape()), " do not match");
  int64_t R = x.dim(0), C = x.dim(1);
  F32View xf(x), sf(s);
  std::vector<float> out(static_cast<size_t>(x.numel()));
  for (int64_t r = 0; r < R; ++r)
    for (int64_t c = 0; c < C; ++c) out[r * C + c] = xf.data()[r * C + c] * sf.data()[r];
  Tensor y = Tensor::empty(x.shape(), x.dtype());
  store_f32(y, 0, y.numel(), out.data());
  if (track(y, {&x, &s})) {
    Tape::active()->record([x, s, y, R, C]() mutable {
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
      y.zero_grad();
    });
  }
  return y;
}

Tensor reshape(const Tensor& x, const Shape& shape) {
  Tensor y = x.view(shape);
  if (track(y, {&x})) {
    Tape::active()->record([x, y]() mutable {
      if (!y.has_grad()) return;
      accumulate_grad(x, y.grad().data<float>());
      y.zero_grad();
    });
  }
  return y;
}

}  // namespace purelm
