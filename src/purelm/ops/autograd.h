// Reverse-mode differentiation by recording. While a Tape is alive on a thread, every op whose
// inputs require gradients records a closure that, run in reverse order, turns the gradient of its
// output into gradients of its inputs. The same forward code serves inference (no tape: nothing
// is recorded) and training. Gradients are float32 and accumulate in Tensor::grad().
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <vector>

#include "purelm/core/tensor.h"

namespace purelm {

class Tape {
 public:
  Tape();   // becomes the thread's active tape
  ~Tape();  // restores the previous one
  Tape(const Tape&) = delete;
  Tape& operator=(const Tape&) = delete;

  static Tape* active();
  // Randomness of training-only ops (dropout): each call draws the next of a sequence fixed by
  // `seed`, so a step is reproducible from its seed (and a resumed run equals an uninterrupted
  // one).
  void seed(uint64_t s) { rng_ = s; }
  uint64_t next_random();
  void record(std::function<void()> backward) { nodes_.push_back(std::move(backward)); }
  // Seeds d(loss)/d(loss) = 1 and runs the recorded closures newest first, freeing each after use.
  void backward(Tensor& loss);
  // The general form: seeds d(out) = seed (float32, out's shape), a vector-Jacobian product.
  void backward(Tensor& out, const Tensor& seed);

 private:
  std::vector<std::function<void()>> nodes_;
  Tape* previous_;
  uint64_t rng_ = 0;
};

// Suspends recording in a scope (e.g. evaluation inside a training step).
class NoGrad {
 public:
  NoGrad();
  ~NoGrad();

 private:
  Tape* saved_;
};

// True when a tape is recording and any input requires a gradient; marks `out` accordingly.
bool track(Tensor& out, std::initializer_list<const Tensor*> inputs);

// Adds `g` (float32, same element count) into t's gradient when t requires one.
void accumulate_grad(const Tensor& t, const float* g);

}  // namespace purelm
