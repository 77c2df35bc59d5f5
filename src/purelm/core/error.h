// Errors: one exception type, thrown with a message that says what is wrong and where.
#pragma once

#include <stdexcept>
#include <string>

namespace purelm {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// check(cond, "message parts", ...) throws Error with the parts concatenated.
template <class... Parts>
[[noreturn]] void fail(const Parts&... parts) {
  std::string msg;
  ((msg +=
    [&] {
      if constexpr (std::is_arithmetic_v<Parts>)
        return std::to_string(parts);
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
