// Reading and writing runs of a float tensor (F32, BF16 or F16) as float32: every op computes in
// float32 whatever the storage type of its activations and weights.
#pragma once

#include <memory>

#include "purelm/core/tensor.h"

namespace purelm {

void load_f32(const Tensor& t, int64_t offset, int64_t n, float* dst);
void store_f32(Tensor& t, int64_t offset, int64_t n, const float* src);

// A float32 view of a tensor, or of its elements [offset, offset + n): the tensor's own memory
// when it is F32, else a converted copy.
class F32View {
 public:
  explicit F32View(const Tensor& t) : F32View(t, 0, t.numel()) {}
  F32View(const Tensor& t, int64_t offset, int64_t n);
  const float* data() const { return ptr_; }

 private:
  std::unique_ptr<float[]> copy_;
  const float* ptr_;
};

// Somewhere to write elements [offset, offset + n) of a tensor as float32: its own memory when it
// is F32, else a buffer that commit() converts into it.
class F32Sink {
 public:
  F32Sink(Tensor& t, int64_t offset, int64_t n);
  float* data() { return ptr_; }
  void commit();

 private:
  Tensor t_;
  int64_t offset_, n_;
  std::unique_ptr<float[]> buf_;
  float* ptr_;
};

// Elementwise ops split their elements over the thread pool in runs of at least this many.
constexpr int64_t kElementGrain = int64_t(1) << 14;

bool is_float(DType t);
void check_float(const Tensor& t, const char* op, const char* what);

}  // namespace purelm
