#include "purelm/ops/rows.h"

#include <cstring>

#include "purelm/core/thread_pool.h"
#include "purelm/ops/kernels/vec.h"

namespace purelm {

namespace {

// Conversions run on all threads: a prefill's activations are megabytes, and one thread converting
// them while the others wait cost as much as the conversion itself.
void convert(int64_t n, const std::function<void(int64_t, int64_t)>& run) {
  parallel_for(n, kElementGrain * 4, run);
}

}  // namespace

void load_f32(const Tensor& t, int64_t offset, int64_t n, float* dst) {
  switch (t.dtype()) {
    case DType::F32:
      std::memcpy(dst, t.data<float>() + offset, static_cast<size_t>(n) * 4);
      return;
    case DType::BF16:
      convert(n, [&](int64_t i0, int64_t i1) {
        kernels::widen(t.data<bf16>() + offset + i0, dst + i0, i1 - i0);
      });
      return;
    case DType::F16: {
      const uint16_t* s = t.data<uint16_t>() + offset;
      for (int64_t i = 0; i < n; ++i) dst[i] = f16_to_f32(s[i]);
      return;
    }
    default:
      fail("expected a float tensor, got ", std::string(dtype_name(t.dtype())));
  }
}

void store_f32(Tensor& t, int64_t offset, int64_t n, const float* src) {
  switch (t.dtype()) {
    case DType::F32:
      std::memcpy(t.data<float>() + offset, src, static_cast<size_t>(n) * 4);
      return;
    case DType::BF16:
      convert(n, [&](int64_t i0, int64_t i1) {
        kernels::narrow(src + i0, t.data<bf16>() + offset + i0, i1 - i0);
      });
      return;
    case DType::F16: {
      uint16_t* d = t.data<uint16_t>() + offset;
      for (int64_t i = 0; i < n; ++i) d[i] = f32_to_f16(src[i]);
      return;
    }
    default:
      fail("expected a float tensor, got ", std::string(dtype_name(t.dtype())));
  }
}

F32View::F32View(const Tensor& t, int64_t offset, int64_t n) {
  if (t.dtype() == DType::F32) {
    ptr_ = t.data<float>() + offset;
  } else {
    copy_ = std::make_unique_for_overwrite<float[]>(size_t(n));
    load_f32(t, offset, n, copy_.get());
    ptr_ = copy_.get();
  }
}

F32Sink::F32Sink(Tensor& t, int64_t offset, int64_t n) : t_(t), offset_(offset), n_(n) {
  if (t.dtype() == DType::F32) {
    ptr_ = t.data<float>() + offset;
  } else {
    buf_ = std::make_unique_for_overwrite<float[]>(size_t(n));
    ptr_ = buf_.get();
  }
}

void F32Sink::commit() {
  if (buf_) store_f32(t_, offset_, n_, buf_.get());
}

bool is_float(DType t) { return t == DType::F32 || t == DType::BF16 || t == DType::F16; }

void check_float(const Tensor& t, const char* op, const char* what) {
  check(t.defined(), op, ": ", what, " is missing");
  check(is_float(t.dtype()), op, ": ", what, " must be a float tensor, got ",
        dtype_name(t.dtype()));
}

}  // namespace purelm
