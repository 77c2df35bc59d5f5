#include "purelm/train/adamw.h"

#include <cmath>

#include "purelm/core/thread_pool.h"

namespace purelm {

AdamW::AdamW(std::vector<Param> params, AdamWConfig cfg) : params_(std::move(params)), cfg_(cfg) {
  for (const Param& p : params_) {
    check(p.value.dtype() == DType::F32, "AdamW: parameter '", p.name, "' must be float32");
    m_.push_back(Tensor::zeros(p.value.shape(), DType::F32));
    v_.push_back(Tensor::zeros(p.value.shape(), DType::F32));
  }
}

void AdamW::step(double lr) {
  ++t_;
  double bc1 = 1 - std::pow(cfg_.beta1, double(t_)), bc2 = 1 - std::pow(cfg_.beta2, double(t_));
  float b1 = float(cfg_.beta1), b2 = float(cfg_.beta2);
  for (size_t i = 0; i < params_.size(); ++i) {
    Param& p = params_[i];
    if (!p.value.has_grad()) continue;
    float* w = p.value.data<float>();
    const float* g = p.value.grad().data<float>();
    float* m = m_[i].data<float>();
    float* v = v_[i].data<float>();
    float decay = p.decay ? float(1 - lr * cfg_.weight_decay) : 1.0f;
    float step = float(lr / bc1), inv_sqrt_bc2 = float(1 / std::sqrt(bc2)), eps = float(cfg_.eps);
    parallel_for(p.value.numel(), 4096, [&](int64_t a, int64_t b) {
      for (int64_t j = a; j < b; ++j) {
        w[j] *= decay;
        m[j] = b1 * m[j] + (1 - b1) * g[j];
        v[j] = b2 * v[j] + (1 - b2) * g[j] * g[j];
        w[j] -= step * m[j] / (std::sqrt(v[j]) * inv_sqrt_bc2 + eps);
      }
    });
  }
}

void AdamW::zero_grad() {
  for (Param& p : params_) p.value.zero_grad();
}

}  // namespace purelm
