// Reading and writing runs of a float tensor (F32, BF16 or F16) as float32: every op computes in
// float32 whatever the storage type of its activations and weights.
#pragma once

#include <vector>

#include "purelm/core/tensor.h"

namespace purelm {

void load_f32(const Tensor& t, int64_t offset, int64_t n, float* dst);
void store_f32(Tensor& t, int64_t offset, int64_t n, const float* src);

// A float32 view of a tensor: the tensor's own memory when it is F32, else a converted copy.
class F32View {
 public:
  explicit F32View(const Tensor& t);
  const float* data() const { return ptr_; }

 private:
  std::vector<float> copy_;
  const float* ptr_;
};

bool is_float(DType t);
void check_float(const Tensor& t, const char* op, const char* what);

}  // namespace purelm
