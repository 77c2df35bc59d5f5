// Block-quantized weights, for inference. A row of n elements (along the last dimension, the input
// dimension K of a linear layer) is stored as ceil(n / 32) blocks, the last one zero-padded:
//
//   Q8  fp16 scale d, 32 int8 codes q:            w = d * q        34 bytes, 8.5 bits per weight
//   Q4  fp16 scale d, 16 bytes of 4-bit codes c:  w = d * (c - 8)  18 bytes, 4.5 bits per weight
//       byte j holds element j in its low nibble and element j + 16 in its high one, so that a
//       mask and a shift split a block into its two halves.
//
// Both are symmetric and round to nearest. Q8 takes d = max|x| / 127 and Q4 d = -m / 8, m being
// the element of largest magnitude (which then decodes exactly, as code 0; as in ggml's Q4_0).
// The fp16 scale is rounded up, never down, so no code clips: every element decodes within d / 2
// of its value, except Q4 elements of the opposite sign to m beyond 7.5 d, which clip to code 15
// and decode within d.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "purelm/core/dtype.h"

namespace purelm::quant {

constexpr int64_t kBlock = 32;
constexpr size_t kQ8Bytes = 2 + 32, kQ4Bytes = 2 + 16;

inline int64_t blocks(int64_t n) { return (n + kBlock - 1) / kBlock; }
inline size_t block_bytes(DType t) { return t == DType::Q8 ? kQ8Bytes : kQ4Bytes; }

// The fp16 bits of a block's scale, which leads the block.
inline uint16_t scale_bits(const void* block) {
  uint16_t h;
  std::memcpy(&h, block, 2);
  return h;
}

// Encodes x[0, n) as one row of t's blocks: row_bytes(t, n) bytes at dst. Throws on values
// that are not finite or too large for an fp16 scale.
void quantize_row(DType t, const float* x, int64_t n, void* dst);
// Decodes such a row into y[0, n).
void dequantize_row(DType t, const void* src, int64_t n, float* y);

// The activations multiplied into quantized weights are rounded too, per block of 32, to int8
// codes with a float32 scale d = max|x| / 127 (as llama.cpp's Q8_0 activations), so that a block's
// product is a sum of integer products (VNNI). Every element stays within d / 2 of its value.
// Writes blocks(n) * 32 codes to q (zero-padded) and blocks(n) scales to d. A block with a value
// that is not finite gets scale NaN (so its products are NaN); one whose largest magnitude is
// below FLT_MIN is rounded to zero.
void quantize_activations(const float* x, int64_t n, int8_t* q, float* d);

}  // namespace purelm::quant
