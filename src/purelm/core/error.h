// Errors: one exception type, thrown with a message that says what is wrong and where.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

namespace purelm {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A shape as messages show it: "[2, 3]".
inline std::string to_string(const std::vector<int64_t>& dims) {
  std::string out = "[";
  for (size_t i = 0; i < dims.size(); ++i) out += (i ? ", " : "") + std::to_string(dims[i]);
  return out + "]";
}

// check(cond, "message parts", ...) throws Error with the parts concatenated: strings, numbers and
// shapes, which are only formatted when the check fails. The parts are still evaluated before
// the test, as any function's arguments: never index or dereference in them what `cond` guards
// (UBSan and ASan caught two such: an empty optional, a 1-D shape's [1]).
template <class... Parts>
[[noreturn]] void fail(const Parts&... parts) {
  std::string msg;
  ((msg +=
    [&] {
      if constexpr (std::is_arithmetic_v<Parts>)
        return std::to_string(parts);
      else if constexpr (std::is_same_v<Parts, std::vector<int64_t>>)
        return to_string(parts);
      else
        return std::string(parts);
    }()),
   ...);
  throw Error(msg);
}

template <class... Parts>
void check(bool cond, const Parts&... parts) {
  if (!cond) fail(parts...);
}

}  // namespace purelm
