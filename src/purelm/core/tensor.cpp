#include "purelm/core/tensor.h"

#include <sys/mman.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>

#include "purelm/core/quant.h"
#include "purelm/core/thread_pool.h"

namespace purelm {

int64_t numel(const Shape& s) {
  int64_t n = 1;
  for (int64_t d : s) n *= d;
  return n;
}

Tensor Tensor::empty(const Shape& shape, DType dtype) {
  for (int64_t d : shape) check(d >= 0, "negative dimension in shape ", shape);
  check(!is_quantized(dtype) || shape.size() >= 2, "a ", dtype_name(dtype),
        " tensor needs rows: shape ", shape);
  Tensor t;
  t.impl_ = std::make_shared<Impl>();
  t.impl_->shape = shape;
  t.impl_->numel = purelm::numel(shape);
  t.impl_->dtype = dtype;
  // 64-byte alignment serves every SIMD width; round the size up as aligned_alloc requires.
  size_t bytes = (t.nbytes() + 63) / 64 * 64;
  // Quantized tensors are weights, streamed whole at every decode step: past 2 MB they go on
  // transparent huge pages (fewer TLB misses; q4 decode 8% faster on Zen 3). Not every large
  // tensor: a training step's activations would fault in 2 MB at a time (its step got 9% slower).
  constexpr size_t kHugePage = size_t(2) << 20;
  const bool huge = is_quantized(dtype) && bytes >= kHugePage;
  void* p = std::aligned_alloc(huge ? kHugePage : 64, bytes ? bytes : 64);
  check(p != nullptr, "out of memory allocating ", bytes, " bytes");
#ifdef MADV_HUGEPAGE
  if (huge) madvise(p, bytes / kHugePage * kHugePage, MADV_HUGEPAGE);  // a hint: failure is fine
#endif
  t.impl_->storage = std::shared_ptr<void>(p, std::free);
  t.impl_->data = p;
  return t;
}

Tensor Tensor::zeros(const Shape& shape, DType dtype) {
  Tensor t = empty(shape, dtype);
  std::memset(t.raw(), 0, t.nbytes());
  return t;
}

Tensor Tensor::borrow(const void* data, const Shape& shape, DType dtype,
                      std::shared_ptr<const void> owner) {
  Tensor t;
  t.impl_ = std::make_shared<Impl>();
  t.impl_->shape = shape;
  t.impl_->numel = purelm::numel(shape);
  t.impl_->dtype = dtype;
  t.impl_->storage = std::move(owner);
  t.impl_->data = const_cast<void*>(data);  // borrowed tensors are read-only by convention
  return t;
}

Tensor Tensor::from_f32(const std::vector<float>& v, const Shape& shape) {
  check(int64_t(v.size()) == purelm::numel(shape), "from_f32: ", v.size(), " values for shape ",
        shape);
  Tensor t = empty(shape, DType::F32);
  if (!v.empty())
    std::memcpy(t.raw(), v.data(), t.nbytes());  // an empty vector's data() may be null
  return t;
}

Tensor Tensor::from_i32(const std::vector<int32_t>& v, const Shape& shape) {
  check(int64_t(v.size()) == purelm::numel(shape), "from_i32: ", v.size(), " values for shape ",
        shape);
  Tensor t = empty(shape, DType::I32);
  if (!v.empty())
    std::memcpy(t.raw(), v.data(), t.nbytes());  // an empty vector's data() may be null
  return t;
}

size_t Tensor::nbytes() const {
  int64_t n = impl_->shape.empty() ? 1 : impl_->shape.back();
  return n == 0 ? 0 : size_t(impl_->numel / n) * row_bytes(impl_->dtype, n);
}

void Tensor::set_requires_grad(bool r) const {
  check(!r || !is_quantized(dtype()), "quantized (", dtype_name(dtype()),
        ") weights are for inference only: they cannot be trained or differentiated");
  impl_->requires_grad = r;
}

int64_t Tensor::dim(int i) const {
  int r = rank();
  if (i < 0) i += r;
  check(i >= 0 && i < r, "dimension ", i, " out of range for shape ", shape());
  return impl_->shape[i];
}

namespace {
float load_f32(const void* p, DType t, int64_t i) {
  switch (t) {
    case DType::F32:
      return static_cast<const float*>(p)[i];
    case DType::BF16:
      return to_f32(static_cast<const bf16*>(p)[i]);
    case DType::F16:
      return f16_to_f32(static_cast<const uint16_t*>(p)[i]);
    case DType::I32:
      return float(static_cast<const int32_t*>(p)[i]);
    case DType::I64:
      return float(static_cast<const int64_t*>(p)[i]);
    case DType::U8:
      return float(static_cast<const uint8_t*>(p)[i]);
    case DType::Q8:
    case DType::Q4:
      break;  // whole rows only: see convert_rows
  }
  return 0;
}

void store_f32(void* p, DType t, int64_t i, float v) {
  switch (t) {
    case DType::F32:
      static_cast<float*>(p)[i] = v;
      break;
    case DType::BF16:
      static_cast<bf16*>(p)[i] = to_bf16(v);
      break;
    case DType::F16:
      static_cast<uint16_t*>(p)[i] = f32_to_f16(v);
      break;
    case DType::I32:
      static_cast<int32_t*>(p)[i] = int32_t(v);
      break;
    case DType::I64:
      static_cast<int64_t*>(p)[i] = int64_t(v);
      break;
    case DType::U8:
      static_cast<uint8_t*>(p)[i] = uint8_t(v);
      break;
    case DType::Q8:
    case DType::Q4:
      break;  // whole rows only: see convert_rows
  }
}

// Row by row through float32, for conversions to or from the block types.
void convert_rows(const Tensor& from, Tensor& to) {
  int64_t n = from.shape().back(), rows = from.numel() / std::max<int64_t>(n, 1);
  size_t in_row = row_bytes(from.dtype(), n), out_row = row_bytes(to.dtype(), n);
  std::vector<float> buf(static_cast<size_t>(n));
  for (int64_t r = 0; r < rows; ++r) {
    const char* src = static_cast<const char*>(from.raw()) + r * in_row;
    char* dst = static_cast<char*>(to.raw()) + r * out_row;
    if (is_quantized(from.dtype()))
      quant::dequantize_row(from.dtype(), src, n, buf.data());
    else
      for (int64_t i = 0; i < n; ++i) buf[i] = load_f32(src, from.dtype(), i);
    if (is_quantized(to.dtype()))
      quant::quantize_row(to.dtype(), buf.data(), n, dst);
    else
      for (int64_t i = 0; i < n; ++i) store_f32(dst, to.dtype(), i, buf[i]);
  }
}

bool is_int(DType t) { return t == DType::I32 || t == DType::I64; }
}  // namespace

Tensor Tensor::to(DType dtype) const {
  Tensor out = empty(shape(), dtype);
  if (dtype == this->dtype()) {
    std::memcpy(out.raw(), raw(), nbytes());
  } else if (is_quantized(dtype) || is_quantized(this->dtype())) {
    check(!is_int(dtype) && !is_int(this->dtype()), "cannot convert ", dtype_name(this->dtype()),
          " to ", dtype_name(dtype));
    convert_rows(*this, out);
  } else if (is_int(dtype) && is_int(this->dtype())) {
    for (int64_t i = 0; i < numel(); ++i) {
      int64_t v = this->dtype() == DType::I32 ? data<int32_t>()[i] : data<int64_t>()[i];
      if (dtype == DType::I32)
        out.data<int32_t>()[i] = int32_t(v);
      else
        out.data<int64_t>()[i] = v;
    }
  } else {
    for (int64_t i = 0; i < numel(); ++i)
      store_f32(out.raw(), dtype, i, load_f32(raw(), this->dtype(), i));
  }
  return out;
}

std::vector<float> Tensor::to_vector() const {
  if (is_quantized(dtype())) return to(DType::F32).to_vector();
  std::vector<float> v(static_cast<size_t>(numel()));
  for (int64_t i = 0; i < numel(); ++i) v[size_t(i)] = load_f32(raw(), dtype(), i);
  return v;
}

float Tensor::item() const {
  check(numel() == 1, "item() of a tensor with shape ", shape());
  if (is_quantized(dtype())) return to_vector()[0];
  return load_f32(raw(), dtype(), 0);
}

Tensor Tensor::bytes_as(DType dtype, const Shape& shape) const {
  Tensor t;
  t.impl_ = std::make_shared<Impl>();
  t.impl_->storage = impl_->storage;
  t.impl_->data = impl_->data;
  t.impl_->shape = shape;
  t.impl_->numel = purelm::numel(shape);
  t.impl_->dtype = dtype;
  check(t.nbytes() == nbytes(), "cannot read ", this->shape(), " ", dtype_name(this->dtype()),
        " as ", shape, " ", dtype_name(dtype));
  return t;
}

Tensor Tensor::view(const Shape& shape) const {
  check(purelm::numel(shape) == numel() &&
            (!is_quantized(dtype()) || (shape.size() >= 2 && shape.back() == this->shape().back())),
        "cannot view shape ", this->shape(), " as ", shape);
  return bytes_as(dtype(), shape);
}

Tensor Tensor::narrow(int64_t start, int64_t len) const {
  check(rank() >= 1 && start >= 0 && len >= 0 && start + len <= dim(0), "cannot take rows [", start,
        ", ", start + len, ") of shape ", shape());
  Shape s = shape();
  s[0] = len;
  Tensor t = view(shape());
  t.impl_->shape = s;
  t.impl_->numel = purelm::numel(s);
  t.impl_->data = static_cast<char*>(impl_->data) +
                  start * int64_t(nbytes() / size_t(std::max<int64_t>(dim(0), 1)));
  return t;
}

Tensor& Tensor::ensure_grad() const {
  bool accumulate = false;
  Tensor& g = grad_to_write(&accumulate);
  if (!accumulate) {
    float* p = g.data<float>();
    parallel_for(g.numel(), int64_t(1) << 16,
                 [p](int64_t a, int64_t b) { std::fill(p + a, p + b, 0.0f); });
  }
  return g;
}

Tensor& Tensor::grad_to_write(bool* accumulate) const {
  *accumulate = has_grad();
  if (!impl_->grad->defined()) *impl_->grad = empty(shape(), DType::F32);
  impl_->grad_zero = false;
  return *impl_->grad;
}

void Tensor::zero_grad() const {
  if (impl_->grad->defined()) impl_->grad_zero = true;
}

void Tensor::release_grad() const {
  *impl_->grad = Tensor();
  impl_->grad_zero = false;
}

}  // namespace purelm
