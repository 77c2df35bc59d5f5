#include "purelm/core/dtype.h"

#include <cmath>

#include "purelm/core/quant.h"

namespace purelm {

namespace {
struct DTypeInfo {
  DType type;
  std::string_view name;
  size_t size;
};
constexpr DTypeInfo kInfo[] = {{DType::F32, "F32", 4}, {DType::BF16, "BF16", 2},
                               {DType::F16, "F16", 2}, {DType::I32, "I32", 4},
                               {DType::I64, "I64", 8}, {DType::Q8, "Q8", 0},
                               {DType::Q4, "Q4", 0},   {DType::U8, "U8", 1}};
}  // namespace

size_t dtype_size(DType t) { return kInfo[int(t)].size; }
std::string_view dtype_name(DType t) { return kInfo[int(t)].name; }

bool parse_dtype(std::string_view name, DType* out) {
  for (const auto& i : kInfo) {
    if (i.name == name && !is_quantized(i.type)) {
      *out = i.type;
      return true;
    }
  }
  return false;
}

bool is_quantized(DType t) { return t == DType::Q8 || t == DType::Q4; }

size_t row_bytes(DType t, int64_t n) {
  if (!is_quantized(t)) return size_t(n) * dtype_size(t);
  return size_t(quant::blocks(n)) * quant::block_bytes(t);
}

float f16_to_f32(uint16_t h) {
  uint32_t sign = uint32_t(h & 0x8000) << 16, exp = (h >> 10) & 0x1f, man = h & 0x3ff;
  uint32_t u;
  if (exp == 0x1f) {
    u = sign | 0x7f800000u | (man << 13);
  } else if (exp != 0) {
    u = sign | ((exp + 112) << 23) | (man << 13);
  } else if (man == 0) {
    u = sign;
  } else {  // subnormal half: renormalise
    int e = -1;
    do {
      ++e;
      man <<= 1;
    } while (!(man & 0x400));
    u = sign | uint32_t(112 - e) << 23 | ((man & 0x3ff) << 13);
  }
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}

uint16_t f32_to_f16(float f) {
  uint32_t u;
  std::memcpy(&u, &f, 4);
  uint16_t sign = (u >> 16) & 0x8000;
  float a = std::fabs(f);
  if (std::isnan(f)) return sign | 0x7e00;
  if (a >= 65520.0f) return sign | 0x7c00;
  if (a < 6.103515625e-05f) {  // subnormal half: scale and round to nearest even
    return sign | uint16_t(std::nearbyint(a * 16777216.0f));
  }
  uint32_t au = u & 0x7fffffffu;
  au += 0xfffu + ((au >> 13) & 1u);
  return sign | uint16_t(((au >> 23) - 112) << 10 | ((au >> 13) & 0x3ff));
}

}  // namespace purelm
