#include "purelm/ops/autograd.h"

#include <algorithm>
#include <utility>

#include "purelm/core/thread_pool.h"
#include "purelm/ops/kernels/vec.h"
#include "purelm/ops/rows.h"

namespace purelm {

namespace {
thread_local Tape* t_active = nullptr;
thread_local Tape* t_backward = nullptr;  // the tape whose backward runs on this thread

bool same_slot(const Tensor& a, const Tensor& b) { return &a.grad() == &b.grad(); }
}  // namespace

Tape::Tape() : previous_(t_active) { t_active = this; }
Tape::~Tape() { t_active = previous_; }
Tape* Tape::active() { return t_active; }
Tape* Tape::recording() { return t_active && t_active->keeps_ ? t_active : nullptr; }

uint64_t Tape::next_random() {  // splitmix64
  uint64_t z = (rng_ += 0x9E3779B97F4A7C15ull);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
  return z ^ (z >> 31);
}

void Tape::backward(Tensor& loss) {
  check(loss.numel() == 1, "backward needs a scalar loss, got shape ", loss.shape());
  backward(loss, Tensor::from_f32({1.0f}, loss.shape()));
}

void Tape::backward(Tensor& out, const Tensor& seed) {
  check(out.requires_grad(), "backward: the output does not depend on any parameter");
  check(seed.dtype() == DType::F32 && seed.shape() == out.shape(), "backward: seed must be F32 ",
        out.shape());
  out.ensure_grad() = seed.clone();
  NoGrad no_grad;
  struct Running {  // a checkpoint's replay nests one; an exception leaves none behind
    Tape* outer;
    ~Running() { t_backward = outer; }
  } running{std::exchange(t_backward, this)};
  while (!nodes_.empty()) {
    const Node& n = nodes_.back();
    if (!n.out.defined() || std::any_of(partials_.begin(), partials_.end(),
                                        [&](const Partial& p) { return same_slot(p.t, n.out); }))
      sum_partials();
    n.backward();
    nodes_.pop_back();
  }
  sum_partials();
}

void Tape::sum_partials() {
  for (Partial& p : partials_) {
    p.over(p.sum.data(), int64_t(p.sum.size()));
    accumulate_grad(p.t, p.sum.data());
  }
  partials_.clear();
}

NoGrad::NoGrad() : saved_(t_active) { t_active = nullptr; }
NoGrad::~NoGrad() { t_active = saved_; }

Tensor checkpoint(const Tensor& x, std::function<Tensor(Tensor)> body) {
  Tape* outer = Tape::recording();
  if (!outer) return body(x);
  const uint64_t rng = outer->rng_;
  Tensor y;
  {
    Tape pass;
    pass.keeps_ = false;
    pass.rng_ = rng;
    y = body(x);
    outer->rng_ = pass.rng_;
  }
  if (!y.requires_grad()) return y;
  outer->record(y, [x, y, rng, body = std::move(body)] {
    if (!y.has_grad()) return;
    Tensor xr = x.view(x.shape());  // the same values, its own gradient slot
    xr.set_requires_grad(x.requires_grad());
    Tape replay;
    replay.rng_ = rng;
    Tensor yr = body(xr);
    replay.backward(yr, y.grad());
    if (xr.has_grad()) accumulate_grad(x, xr.grad().data<float>());
    y.release_grad();
  });
  return y;
}

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

void accumulate_partial_grad(const Tensor& t, const float* g, GroupSum over) {
  if (!t.requires_grad()) return;
  Tape* tape = t_backward;
  if (!tape) {  // outside a backward: nothing to wait for
    std::vector<float> sum(g, g + t.numel());
    over(sum.data(), t.numel());
    return accumulate_grad(t, sum.data());
  }
  auto p = std::find_if(tape->partials_.begin(), tape->partials_.end(),
                        [&](const Tape::Partial& q) { return same_slot(q.t, t); });
  if (p == tape->partials_.end()) {
    tape->partials_.push_back({t, std::vector<float>(g, g + t.numel()), over});
    return;
  }
  check(p->over.sum == over.sum && p->over.group == over.group,
        "one tensor's partial gradients are summed over two groups");
  kernels::add(p->sum.data(), g, p->sum.data(), t.numel());
}

void accumulate_grad(const Tensor& t, const float* g) {
  if (!t.requires_grad()) return;
  bool acc = false;
  float* dst = t.grad_to_write(&acc).data<float>();
  parallel_for(t.numel(), kElementGrain, [&](int64_t i0, int64_t i1) {
    if (acc)
      kernels::add(dst + i0, g + i0, dst + i0, i1 - i0);
    else
      std::copy(g + i0, g + i1, dst + i0);
  });
}

}  // namespace purelm
