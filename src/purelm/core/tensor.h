// A dense row-major tensor: shape, element type and shared storage. Storage is either owned
// (allocated here) or borrowed from elsewhere (a memory-mapped file) and kept alive by a handle.
//
// A tensor may also take part in automatic differentiation: `requires_grad` marks parameters and
// everything computed from them while a Tape records (see ops/autograd.h); `grad()` holds the
// accumulated float32 gradient.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "purelm/core/dtype.h"
#include "purelm/core/error.h"

namespace purelm {

using Shape = std::vector<int64_t>;

int64_t numel(const Shape& s);

class Tensor {
 public:
  Tensor() = default;

  static Tensor empty(const Shape& shape, DType dtype);  // uninitialised
  static Tensor zeros(const Shape& shape, DType dtype);
  // Wraps memory owned elsewhere; `owner` keeps it alive as long as the tensor lives.
  static Tensor borrow(const void* data, const Shape& shape, DType dtype,
                       std::shared_ptr<const void> owner);
  static Tensor from_f32(const std::vector<float>& v, const Shape& shape);
  static Tensor from_i32(const std::vector<int32_t>& v, const Shape& shape);

  bool defined() const { return impl_ != nullptr; }
  DType dtype() const { return impl_->dtype; }
  const Shape& shape() const { return impl_->shape; }
  int rank() const { return int(impl_->shape.size()); }
  int64_t dim(int i) const;  // negative i counts from the end
  int64_t numel() const { return impl_->numel; }
  size_t nbytes() const;

  template <class T>
  T* data() {
    return static_cast<T*>(impl_->data);
  }
  template <class T>
  const T* data() const {
    return static_cast<const T*>(impl_->data);
  }
  void* raw() { return impl_->data; }
  const void* raw() const { return impl_->data; }

  // Converting copy (a plain copy when dtype matches); to or from Q8/Q4 it (de)quantizes each row.
  Tensor to(DType dtype) const;
  Tensor clone() const { return to(dtype()); }
  std::vector<float> to_vector() const;  // any float dtype, as float32
  float item() const;                    // the single element, as float32
  // Same storage, new shape (same number of elements). Not recorded for autograd: ops/ has reshape.
  Tensor view(const Shape& shape) const;
  // Same storage, its bytes read as another type and shape of the same size (a checkpoint's U8
  // rows as the quantized weight they hold).
  Tensor bytes_as(DType dtype, const Shape& shape) const;
  // Rows [start, start + len) of the first dimension, sharing storage.
  Tensor narrow(int64_t start, int64_t len) const;
  bool same_storage(const Tensor& o) const { return impl_->storage == o.impl_->storage; }

  // Autograd state (see ops/autograd.h). The gradient slot belongs to the shared tensor, not to
  // this handle, so it stays writable through a const handle.
  bool requires_grad() const { return impl_ && impl_->requires_grad; }
  void set_requires_grad(bool r) const;          // refused for quantized tensors: inference only
  Tensor& grad() const { return *impl_->grad; }  // the float32 gradient; allocated by ensure_grad()
  bool has_grad() const { return impl_->grad->defined() && !impl_->grad_zero; }
  Tensor& ensure_grad() const;  // zero-initialised on first use
  // The gradient to write into. When there is none yet (`*accumulate` false) the caller must write
  // every element, and no zero fill is spent; else it adds to what is there.
  Tensor& grad_to_write(bool* accumulate) const;
  // The gradient becomes zero but keeps its memory for the next backward: parameters between
  // optimizer steps (no page faults and no fill of gigabytes at every step).
  void zero_grad() const;
  void release_grad() const;  // frees the gradient: an activation's, once it has flowed back
  const void* id() const { return impl_.get(); }

 private:
  struct Impl {
    std::shared_ptr<const void> storage;
    void* data = nullptr;
    Shape shape;
    int64_t numel = 0;
    DType dtype = DType::F32;
    bool requires_grad = false;
    bool grad_zero = false;  // `grad` holds memory but stands for zero
    std::unique_ptr<Tensor> grad = std::make_unique<Tensor>();
  };
  std::shared_ptr<Impl> impl_;
};

}  // namespace purelm
