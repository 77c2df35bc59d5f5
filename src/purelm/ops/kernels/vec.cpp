#include "purelm/ops/kernels/vec.h"

namespace purelm::kernels {

#define PURELM_MULTIVERSION __attribute__((target_clones("avx512f", "avx2", "default")))

// Sixteen independent accumulators let the compiler keep a whole vector register of partial sums.
PURELM_MULTIVERSION float dot(const float* a, const float* b, int64_t n) {
  float acc[16] = {};
  int64_t i = 0;
  for (; i + 16 <= n; i += 16)
    for (int j = 0; j < 16; ++j) acc[j] += a[i + j] * b[i + j];
  float s = 0;
  for (int j = 0; j < 16; ++j) s += acc[j];
  for (; i < n; ++i) s += a[i] * b[i];
  return s;
}

PURELM_MULTIVERSION void axpy(float a, const float* x, float* y, int64_t n) {
  for (int64_t i = 0; i < n; ++i) y[i] += a * x[i];
}

}  // namespace purelm::kernels
