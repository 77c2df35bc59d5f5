// Pre-tokenizers: tokenizer.json's "pre_tokenizer" section (internal header).
//
// A pre-tokenizer cuts a normalized segment into the pieces ("words") the model encodes one by one,
// possibly rewriting them (ByteLevel maps bytes to printable characters, Metaspace spaces to "▁").
// Pieces stream through callbacks instead of vectors of strings, so a Sequence costs no allocation
// per piece.
#pragma once

#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string_view>

#include "purelm/tokenizer/unicode.h"

namespace purelm::tok {

// `at_start`: the piece begins at offset 0 of the original input (Metaspace's prepend_scheme
// "first" prepends only there). A piece's view is valid only during the call.
using PieceFn = FunctionRef<void(std::string_view piece, bool at_start)>;

class PreTokenizer {
 public:
  virtual ~PreTokenizer() = default;
  // Emits the non-empty pieces of `s` in order.
  virtual void split(std::string_view s, bool at_start, PieceFn emit) const = 0;
};

// Null JSON gives nullptr (the whole segment is one piece). Throws purelm::Error on unsupported
// types.
std::unique_ptr<PreTokenizer> make_pre_tokenizer(const nlohmann::json& j);

}  // namespace purelm::tok
