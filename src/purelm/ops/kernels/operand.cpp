#include "purelm/ops/kernels/operand.h"

#include "purelm/ops/rows.h"

namespace purelm::kernels {

TensorOperand::TensorOperand(const Tensor& t) : data_(t.raw()), bf16_(t.dtype() == DType::BF16) {
  if (t.dtype() != DType::F32 && !bf16_) {
    copy_.resize(size_t(t.numel()));
    load_f32(t, 0, t.numel(), copy_.data());
    data_ = copy_.data();
  }
}

const void* TensorOperand::at(int64_t offset) const {
  return bf16_ ? static_cast<const void*>(static_cast<const bf16*>(data_) + offset)
               : static_cast<const void*>(static_cast<const float*>(data_) + offset);
}

}  // namespace purelm::kernels
