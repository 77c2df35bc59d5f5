#include "purelm/train/schedule.h"

#include <algorithm>
#include <cmath>
#include <numbers>

namespace purelm {

double LrSchedule::at(int64_t step) const {
  if (step < warmup) return lr * double(step + 1) / double(warmup);
  int64_t decay_steps = total - 1 - warmup;
  if (decay_steps <= 0) return lr;
  double progress = std::min(1.0, double(step - warmup) / double(decay_steps));
  return min_lr + 0.5 * (lr - min_lr) * (1 + std::cos(std::numbers::pi * progress));
}

}  // namespace purelm
