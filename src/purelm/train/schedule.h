// The learning-rate schedule: linear warmup to `lr`, then cosine decay to `min_lr` at the last
// step.
#pragma once

#include <cstdint>

namespace purelm {

struct LrSchedule {
  double lr = 1e-3, min_lr = 1e-4;
  int64_t warmup = 0, total = 1;  // steps

  // The rate for update `step` (0-based): (step + 1) / warmup * lr during warmup, so the first
  // update is not wasted at rate 0; min_lr at step total - 1.
  double at(int64_t step) const;
};

}  // namespace purelm
