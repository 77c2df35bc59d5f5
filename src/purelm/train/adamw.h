// AdamW with PyTorch's semantics: decoupled weight decay applied first, bias-corrected moments.
#pragma once

#include <string>
#include <vector>

#include "purelm/core/tensor.h"

namespace purelm {

struct AdamWConfig {
  double lr = 1e-3, beta1 = 0.9, beta2 = 0.999, eps = 1e-8, weight_decay = 0.01;
};

struct Param {
  std::string name;
  Tensor value;       // float32, requires_grad
  bool decay = true;  // whether weight decay applies
  int copies = 1;     // processes of a mesh holding this same gradient (counted once in norms)
};

class AdamW {
 public:
  AdamW(std::vector<Param> params, AdamWConfig cfg);
  // One update from the parameters' accumulated gradients, at learning rate `lr`.
  void step(double lr);
  void zero_grad();
  int64_t steps() const { return t_; }
  const std::vector<Param>& params() const { return params_; }
  // First and second moments, parallel to params(): the optimizer state a checkpoint saves.
  std::vector<Tensor>& m() { return m_; }
  std::vector<Tensor>& v() { return v_; }
  void set_steps(int64_t t) { t_ = t; }

 private:
  std::vector<Param> params_;
  AdamWConfig cfg_;
  std::vector<Tensor> m_, v_;
  int64_t t_ = 0;
};

}  // namespace purelm
