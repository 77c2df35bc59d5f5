// A persistent pool of worker threads for data-parallel loops. The calling thread works too, so a
// pool of n threads uses n-1 workers. Loops do not nest: a parallel_for inside a task runs inline.
#pragma once

#include <cstdint>
#include <functional>

namespace purelm {

// The cores this process may run on (its CPU affinity).
int available_cores();

// The pool's size; by default available_cores().
int num_threads();
void set_num_threads(int n);  // resizes the pool; n <= 0 means the default

// Splits [0, n) into contiguous chunks of at least `grain` items and runs fn(begin, end) on each.
void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn);

}  // namespace purelm
