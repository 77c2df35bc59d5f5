#include "purelm/ops/autograd.h"

namespace purelm {

namespace {
thread_local Tape* t_active = nullptr;
}

Tape::Tape() : previous_(t_active) { t_active = this; }
Tape::~Tape() { t_active = previous_; }
Tape* Tape::active() { return t_active; }

void Tape::backward(Tensor& loss) {
  check(loss.numel() == 1, "backward needs a scalar loss, got shape ", to_string(loss.shape()));
  backward(loss, Tensor::from_f32({1.0f}, loss.shape()));
}

void Tape::backward(Tensor& out, const Tensor& seed) {
  check(out.requires_grad(), "backward: the output does not depend on any parameter");
  check(seed.dtype() == DType::F32 && seed.shape() == out.shape(), "backward: seed must be F32 ",
        to_string(out.shape()));
  out.ensure_grad() = seed.clone();
  NoGrad no_grad;
  while (!nodes_.empty()) {
    nodes_.back()();
    nodes_.pop_back();
  }
}

NoGrad::NoGrad() : saved_(t_active) { t_active = nullptr; }
NoGrad::~NoGrad() { t_active = saved_; }

bool track(Tensor& out, std::initializer_list<const Tensor*> inputs) {
  if (!t_active) return false;
  for (const Tensor* t : inputs) {
    if (t->requires_grad()) {
      out.set_requires_grad(true);
      return true;
    }
  }
  return false;
}

void accumulate_grad(const Tensor& t, const float* g) {
  if (!t.requires_grad()) return;
  float* dst = t.ensure_grad().data<float>();
  for (int64_t i = 0; i < t.numel(); ++i) dst[i] += g[i];
}

}  // namespace purelm
