#include "purelm/train/heldout.h"

#include <algorithm>
#include <cmath>

#include "purelm/ops/autograd.h"

namespace purelm {

HeldOutLoss heldout_loss(const Model& m, const TokenSplit& s, int64_t T, int64_t B) {
  check(T >= 1 && B >= 1, "heldout_loss: windows need T >= 1 and B >= 1");
  NoGrad no_grad;
  const int64_t V = m.config.vocab_size, windows = (int64_t(s.tokens.size()) - 1) / T;
  check(windows >= 1, "held-out split of ", s.tokens.size(), " tokens is shorter than a window of ",
        T + 1);
  double sum = 0;
  HeldOutLoss r;
  for (int64_t w0 = 0; w0 < windows; w0 += B) {
    const int64_t n = std::min(B, windows - w0);
    std::vector<int32_t> ids(static_cast<size_t>(n * T));
    for (int64_t i = 0; i < n * T; ++i) ids[i] = s.tokens[(w0 + i / T) * T + i % T];
    std::vector<float> z = m.logits(Tensor::from_i32(ids, {n, T})).to_vector();
    for (int64_t i = 0; i < n * T; ++i) {
      const size_t next = size_t((w0 + i / T) * T + i % T + 1);
      if (!s.is_target(next)) continue;
      const float* zi = z.data() + i * V;
      const double mx = *std::max_element(zi, zi + V);
      double e = 0;
      for (int64_t v = 0; v < V; ++v) e += std::exp(double(zi[v]) - mx);
      sum += mx + std::log(e) - double(zi[s.tokens[next]]);
      ++r.targets;
    }
  }
  r.loss = r.targets ? sum / double(r.targets) : NAN;
  r.bits_per_byte =
      s.bytes > 0 ? r.loss / std::log(2.0) * double(s.tokens.size()) / double(s.bytes) : NAN;
  return r;
}

}  // namespace purelm
