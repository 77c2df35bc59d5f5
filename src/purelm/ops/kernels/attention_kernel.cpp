#include "purelm/ops/kernels/attention_kernel.h"

#include <array>

#include "purelm/ops/kernels/tile.h"

namespace purelm::kernels {

namespace {

constexpr std::array<AttentionKernel, 4> kKernels{{
    {"avx512-bf16", kAvx512 | kAvx512Bf16, avx512_bf16_attention},
    {"avx512", kAvx512, avx512_attention},
    {"avx2", kAvx2, avx2_attention},
    {"portable", 0, portable_attention},
}};

}  // namespace

std::span<const AttentionKernel> attention_kernels() { return kKernels; }

const AttentionKernel& attention_kernel() {
  for (const AttentionKernel& k : kKernels)
    if (has(k.needs)) return k;
  return kKernels.back();
}

}  // namespace purelm::kernels
