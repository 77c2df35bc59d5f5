#include "purelm/ops/rope.h"

#include <cmath>
#include <memory>
#include <numbers>
#include <vector>

#include "purelm/core/thread_pool.h"
#include "purelm/ops/autograd.h"
#include "purelm/ops/kernels/vec.h"
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

// The cosines and sines of every (position, frequency) that a call turns by, in float: computed
// once per call and shared by all heads, by the batch entries that start at the same position,
// and by the backward pass. The angles are in double, as libm takes them.
struct Angles {
  std::vector<float> cos, sin;  // [starts * T, half]
  std::vector<int64_t> start;   // the index of each batch entry's first position among them
};

Angles angles(const std::vector<double>& inv_freq, const std::vector<int64_t>& pos0, int64_t T) {
  const int64_t B = int64_t(pos0.size()), half = int64_t(inv_freq.size());
  Angles a;
  std::vector<int64_t> firsts;  // the distinct starting positions
  for (int64_t b = 0; b < B; ++b) {
    int64_t j = 0;
    while (j < int64_t(firsts.size()) && firsts[size_t(j)] != pos0[size_t(b)]) ++j;
    if (j == int64_t(firsts.size())) firsts.push_back(pos0[size_t(b)]);
    a.start.push_back(j);
  }
  const int64_t rows = int64_t(firsts.size()) * T;
  a.cos.resize(size_t(rows * half));
  a.sin.resize(size_t(rows * half));
  parallel_for(rows, 4, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      double pos = double(firsts[size_t(r / T)] + r % T);
      for (int64_t i = 0; i < half; ++i) {
        a.cos[size_t(r * half + i)] = float(std::cos(pos * inv_freq[size_t(i)]));
        a.sin[size_t(r * half + i)] = float(std::sin(pos * inv_freq[size_t(i)]));
      }
    }
  });
  return a;
}

// Turns every head of x [B, T, heads, H] by its angles, or back by them (the backward pass).
void rotate(float* x, int64_t B, int64_t T, int64_t heads, int64_t H, const Angles& a,
            bool inverse) {
  const int64_t half = H / 2;
  parallel_for(B * T, 4, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t at = (a.start[size_t(r / T)] * T + r % T) * half;
      for (int64_t h = 0; h < heads; ++h)
        kernels::rotate_halves(x + (r * heads + h) * H, &a.cos[size_t(at)], &a.sin[size_t(at)],
                               half, inverse);
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
  auto a = std::make_shared<const Angles>(angles(inv_freq, pos0, T));
  rotate(buf.get(), B, T, heads, H, *a, false);
  Tensor y = Tensor::empty(x.shape(), x.dtype());
  store_f32(y, 0, y.numel(), buf.get());
  if (track(y, {&x})) {
    Tape::active()->record(y, [x, y, a, B, T, heads, H]() mutable {
      if (!y.has_grad()) return;
      std::vector<float> g(y.grad().data<float>(), y.grad().data<float>() + y.numel());
      rotate(g.data(), B, T, heads, H, *a, true);
      accumulate_grad(x, g.data());
      y.release_grad();
    });
  }
  return y;
}

}  // namespace purelm
