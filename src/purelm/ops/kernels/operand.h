// A float tensor's memory as a GEMM operand: F32 and BF16 storage is read in place (bf16 is
// widened while packing, so a bf16 weight matrix is never copied whole); F16 goes through a
// float32 copy.
#pragma once

#include <vector>

#include "purelm/core/tensor.h"
#include "purelm/ops/kernels/gemm.h"

namespace purelm::kernels {

class TensorOperand {
 public:
  explicit TensorOperand(const Tensor& t);
  TensorOperand(const TensorOperand&) = delete;  // may point into its own copy
  TensorOperand& operator=(const TensorOperand&) = delete;
  // The memory from element `offset` on as row-major [rows, ld]: (i = row, k = column) or
  // transposed.
  Mat rows(int64_t ld, int64_t offset = 0) const { return {at(offset), bf16_, ld, 1}; }
  Mat cols(int64_t ld, int64_t offset = 0) const { return {at(offset), bf16_, 1, ld}; }

 private:
  const void* at(int64_t offset) const;

  std::vector<float> copy_;
  const void* data_;
  bool bf16_;
};

}  // namespace purelm::kernels
