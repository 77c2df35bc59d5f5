// What every workload shares: a clock, best-of timing, and token ids to feed the model.
#pragma once

#include <algorithm>
#include <chrono>
#include <functional>
#include <random>
#include <vector>

#include "purelm/core/tensor.h"

namespace purelm::bench {

inline double now() {
  return std::chrono::duration<double>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

// Processes that time a workload together (a mesh, whose steps hold collectives) must run it
// equally often: `agree` turns this process's wish for another run into the group's decision. It is
// called right before each timed run and once after the last, so whatever happens between two
// calls that returned true is exactly one run.
using Agree = std::function<bool(bool)>;

// Runs fn once untimed (first touch of memory, lazily sized scratch buffers, page-ins of mapped
// weights), then times repetitions until `budget` seconds have passed, at least one. Returns the
// fastest: on a shared host others' load only ever adds time, so the best run is the most
// faithful figure for what the code can do.
template <class Fn>
double best_seconds(double budget, Fn&& fn, const Agree& agree = {}) {
  fn();
  double best = 1e300, start = now();
  for (bool more = true; agree ? agree(more) : more; more = now() - start < budget) {
    double t0 = now();
    fn();
    best = std::min(best, now() - t0);
  }
  return best;
}

// I32 [B, T] of uniform random ids below V: the speed of a step does not depend on the tokens.
inline Tensor random_ids(int64_t V, int64_t B, int64_t T, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int32_t> id(0, int32_t(V - 1));
  std::vector<int32_t> v(static_cast<size_t>(B * T));
  for (int32_t& x : v) x = id(rng);
  return Tensor::from_i32(v, {B, T});
}

}  // namespace purelm::bench
