#include "purelm/ops/kernels/attention_kernel.h"

#include <iterator>

#include "purelm/ops/kernels/tile.h"

namespace purelm::kernels {

namespace {

constexpr AttentionKernel kKernels[] = {
#if defined(__x86_64__)
    {"avx512-bf16", kAvx512 | kAvx512Bf16, avx512_bf16_attention},
    {"avx512", kAvx512, avx512_attention},
    {"avx2", kAvx2, avx2_attention},
#endif
    {"portable", 0, portable_attention},
};

}  // namespace

std::span<const AttentionKernel> attention_kernels() { return kKernels; }

const AttentionKernel& attention_kernel() {
  for (const AttentionKernel& k : kKernels)
    if (has(k.needs)) return k;
  return std::end(kKernels)[-1];
}

}  // namespace purelm::kernels
