#include "purelm/train/adamw.h"

#include <cmath>

#include "purelm/core/thread_pool.h"
#include "purelm/ops/kernels/vec.h"

namespace purelm {

AdamW::AdamW(std::vector<Param> params, AdamWConfig cfg) : params_(std::move(params)), cfg_(cfg) {
  for (const Param& p : params_) {
    check(p.value.dtype() == DType::F32, "AdamW: parameter '", p.name, "' must be float32");
    m_.push_back(Tensor::zeros(p.value.shape(), DType::F32));
    v_.push_back(Tensor::zeros(p.value.shape(), DType::F32));
    // The gradients live as long as the optimizer, in memory taken before the first forward: the
    // activations of every step then find the same free memory, with no page faults (at the cost
    // of holding the gradients through the forward too, as torch's zero_grad(set_to_none=False)).
    if (!p.value.has_grad()) {
      p.value.ensure_grad();
      p.value.zero_grad();
    }
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
      kernels::adamw(w + a, m + a, v + a, g + a, b - a, decay, b1, b2, step, inv_sqrt_bc2, eps);
    });
  }
}

void AdamW::zero_grad() {
  for (Param& p : params_) p.value.zero_grad();
}

}  // namespace purelm
