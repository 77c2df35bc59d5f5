// What the training loop does around AdamW: which parameters decay, and gradient clipping.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "purelm/train/adamw.h"

namespace purelm {

// Sets Param::decay: 1-D tensors (norm weights) never decay, nor do parameters whose name
// contains one of `no_decay` (e.g. "embed_tokens"); everything else does. `ranks[i]`, when
// given, is parameter i's rank as the model uses it (a sharded parameter is stored flat).
void apply_decay_rules(std::vector<Param>& params, const std::vector<std::string>& no_decay,
                       const std::vector<int>& ranks = {});

// Sums a process's share over all processes that hold parameters (empty: one process); a
// parameter held by Param::copies of them counts 1 / copies on each.
using SumOver = std::function<double(double)>;

// The L2 norm of all gradients together (parameters without a gradient count as zero).
double global_grad_norm(const std::vector<Param>& params, const SumOver& sum = {});

// Scales every gradient by max_norm / norm when the global norm exceeds max_norm (as PyTorch's
// clip_grad_norm_, including its 1e-6 guard). Returns the norm before clipping.
double clip_grad_norm(const std::vector<Param>& params, double max_norm, const SumOver& sum = {});

}  // namespace purelm
