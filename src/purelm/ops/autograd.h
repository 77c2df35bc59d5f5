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
#include "purelm/ops/parallel.h"

namespace purelm {

class Tape {
 public:
  Tape();   // becomes the thread's active tape
  ~Tape();  // restores the previous one
  Tape(const Tape&) = delete;
  Tape& operator=(const Tape&) = delete;

  static Tape* active();
  // The active tape if it keeps what is recorded: not a checkpoint's first pass (below).
  static Tape* recording();
  // Randomness of training-only ops (dropout): each call draws the next of a sequence fixed by
  // `seed`, so a step is reproducible from its seed (and a resumed run equals an uninterrupted
  // one).
  void seed(uint64_t s) { rng_ = s; }
  uint64_t next_random();
  // `backward` turns the gradient of `out` into gradients of the op's inputs; it reads no other
  // tensor's gradient. An undefined `out`: a closure that reads no activation's gradient.
  void record(const Tensor& out, std::function<void()> backward) {
    if (keeps_) nodes_.push_back({out, std::move(backward)});
  }
  // Seeds d(loss)/d(loss) = 1 and runs the recorded closures newest first, freeing each after use.
  void backward(Tensor& loss);
  // The general form: seeds d(out) = seed (float32, out's shape), a vector-Jacobian product.
  void backward(Tensor& out, const Tensor& seed);

 private:
  struct Node {
    Tensor out;
    std::function<void()> backward;
  };
  // Parts of gradients a group of processes sums (accumulate_partial_grad), not yet summed.
  struct Partial {
    Tensor t;
    std::vector<float> sum;
    GroupSum over;
  };
  std::vector<Node> nodes_;
  std::vector<Partial> partials_;
  Tape* previous_;
  uint64_t rng_ = 0;
  bool keeps_ = true;

  void sum_partials();

  friend Tensor checkpoint(const Tensor& x, std::function<Tensor(Tensor)> body);
  friend void accumulate_partial_grad(const Tensor& t, const float* g, GroupSum over);
};

// Activation recomputation, as torch.utils.checkpoint: y = body(x), keeping for the backward only
// x (and what body captures), not the activations inside body. While a tape records, body first
// runs under a tape that draws the same random numbers but drops every closure, so its
// intermediates are freed as in inference; one closure is recorded instead, which re-runs body on
// x under a fresh tape from the same random state and backpropagates y's gradient through it.
// The replay computes the same values in the same order, so gradients are bit-identical to
// recording body directly. body runs twice: it must own its captures and be a pure function of x
// and the weights it reads (it reads them again, so a sharded model gathers them again).
Tensor checkpoint(const Tensor& x, std::function<Tensor(Tensor)> body);

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

// The same for this process's part of a gradient that a group of processes sums (ops/parallel.h:
// the input gradient of a Split::Out projection). Inside a backward the parts wait: the group sums
// them once, when the closure of the op that made t runs (the first to read t's gradient), so the
// q, k and v projections of one input (gate and up) cost one all-reduce, as Megatron's f operator.
void accumulate_partial_grad(const Tensor& t, const float* g, GroupSum over);

}  // namespace purelm
