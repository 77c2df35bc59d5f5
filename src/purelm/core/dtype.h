// Element types of tensors and the conversions between them.
#pragma once

#include <cstdint>
#include <cstring>
#include <string_view>

namespace purelm {

// Q8 and Q4 are block-quantized weights for inference (core/quant.h has the layout): each row of
// the last dimension is cut into blocks of 32 elements that share one scale, so their sizes are
// counted per row (row_bytes), not per element. U8 holds them in a checkpoint file: each row's
// blocks as bytes (models/quantize.h).
enum class DType : uint8_t { F32, BF16, F16, I32, I64, Q8, Q4, U8 };

size_t dtype_size(DType t);            // bytes per element; 0 for the block types
std::string_view dtype_name(DType t);  // safetensors spelling: "F32", "BF16", ...; "Q8", "Q4"
// The safetensors dtypes only: the block types are never read from a file.
bool parse_dtype(std::string_view name, DType* out);
bool is_quantized(DType t);
// Bytes of n consecutive elements of one row (a whole row for the block types).
size_t row_bytes(DType t, int64_t n);

// bfloat16 is the upper half of an IEEE float32.
struct bf16 {
  uint16_t bits;
};

inline float to_f32(bf16 x) {
  uint32_t u = uint32_t(x.bits) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

// Round to nearest even, as PyTorch does; NaN stays NaN.
inline bf16 to_bf16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  if ((u & 0x7fffffffu) > 0x7f800000u) return bf16{uint16_t((u >> 16) | 0x40)};
  u += 0x7fffu + ((u >> 16) & 1u);
  return bf16{uint16_t(u >> 16)};
}

inline float round_bf16(float f) { return to_f32(to_bf16(f)); }

float f16_to_f32(uint16_t h);
uint16_t f32_to_f16(float f);

}  // namespace purelm
