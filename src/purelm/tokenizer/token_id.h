// A token id read from tokenizer.json: an integer in [0, kMaxTokenId). nlohmann's get<int32_t>()
// converts any number, and a float or a huge integer out of range is undefined behaviour; a huge
// id would also size the vocabulary's tables.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

#include "purelm/core/error.h"

namespace purelm::tok {

constexpr int64_t kMaxTokenId = int64_t(1) << 24;  // far above any real vocabulary

inline int32_t token_id(const nlohmann::json& j, const std::string& what) {
  check(j.is_number_integer(), what, ": a token id must be an integer, not ", j.type_name());
  const int64_t id = j.get<int64_t>();  // a huge unsigned one wraps to negative: refused below
  check(id >= 0 && id < kMaxTokenId, what, ": token id ", id, " is outside [0, ", kMaxTokenId, ")");
  return int32_t(id);
}

}  // namespace purelm::tok
