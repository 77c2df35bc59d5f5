#include "purelm/ops/rope.h"

#include <cmath>
#include <memory>
#include <numbers>

#include "purelm/core/thread_pool.h"
#include "purelm/ops/autograd.h"
#include "purelm/ops/rows.h"

namespace purelm {

std::vector<double> rope_inv_freq(int64_t H, double theta) {
  std::vector<double> f(static_cast<size_t>(H / 2));
  for (int64_t i = 0; i < H / 2; ++i) f[i] = 1.0 / std::pow(theta, double(2 * i) / double(H));
  return f;
}

void rope_llama3_scale(std::vector<double>& inv_freq, double factor, double low_freq_factor,
                       double high_freq_factor, double original_max_positions) {
  double low_wavelen = original_max_positions / low_freq_factor;
  double high_wavelen = original_max_positions / high_freq_factor;
  for (double& f : inv_freq) {
    double wavelen = 2 * std::numbers::pi / f;
    if (wavelen < high_wavelen) continue;
    if (wavelen > low_wavelen) {
      f /= factor;
    } else {
      double s = (original_max_positions / wavelen - low_freq_factor) /
                 (high_freq_factor - low_freq_factor);
      f = (1 - s) * f / factor + s * f;
    }
  }
}

namespace {

// Rotates every head of x by +angle (sign 1) or -angle (sign -1, the backward pass), in place.
void rotate(float* x, int64_t B, int64_t T, int64_t heads, int64_t H,
            const std::vector<double>& inv_freq, const std::vector<int64_t>& pos0, float sign) {
  int64_t half = H / 2;
  parallel_for(B * T, 4, [&](int64_t r0, int64_t r1) {
    std::vector<float> c(static_cast<size_t>(half)), s(static_cast<size_t>(half));
    for (int64_t r = r0; r < r1; ++r) {
      double pos = double(pos0[size_t(r / T)] + r % T);
      for (int64_t i = 0; i < half; ++i) {
        c[i] = float(std::cos(pos * inv_freq[i]));
        s[i] = sign * float(std::sin(pos * inv_freq[i]));
      }
      for (int64_t h = 0; h < heads; ++h) {
        float* v = x + (r * heads + h) * H;
        for (int64_t i = 0; i < half; ++i) {
          float a = v[i], b = v[i + half];
          v[i] = a * c[i] - b * s[i];
          v[i + half] = b * c[i] + a * s[i];
        }
      }
    }
  });
}

}  // namespace

Tensor rope(const Tensor& x, const std::vector<double>& inv_freq,
            const std::vector<int64_t>& pos0) {
  check_float(x, "rope", "input");
  check(x.rank() == 4 && x.dim(3) == int64_t(2 * inv_freq.size()), "rope: input ", x.shape(),
        " is not [B, T, heads, ", 2 * inv_freq.size(), "]");
  int64_t B = x.dim(0), T = x.dim(1), heads = x.dim(2), H = x.dim(3);
  check(int64_t(pos0.size()) == B, "rope: ", pos0.size(), " positions for batch ", B);
  auto buf = std::make_unique_for_overwrite<float[]>(size_t(x.numel()));
  load_f32(x, 0, x.numel(), buf.get());
  rotate(buf.get(), B, T, heads, H, inv_freq, pos0, 1.0f);
  Tensor y = Tensor::empty(x.shape(), x.dtype());
  store_f32(y, 0, y.numel(), buf.get());
  if (track(y, {&x})) {
    Tape::active()->record(y, [x, y, inv_freq, pos0, B, T, heads, H]() mutable {
      if (!y.has_grad()) return;
      std::vector<float> g(y.grad().data<float>(), y.grad().data<float>() + y.numel());
      rotate(g.data(), B, T, heads, H, inv_freq, pos0, -1.0f);
      accumulate_grad(x, g.data());
      y.release_grad();
    });
  }
  return y;
}

}  // namespace purelm
