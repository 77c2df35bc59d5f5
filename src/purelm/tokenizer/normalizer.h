// Normalizers: tokenizer.json's "normalizer" section (internal header).
//
// Why utf8proc: Unicode normalisation (NFC/NFD/NFKC/NFKD) needs the full composition and
// decomposition tables; utf8proc is a small C library that implements them exactly, with none of
// ICU's size or API weight.
#pragma once

#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>

namespace purelm::tok {

class Normalizer {
 public:
  virtual ~Normalizer() = default;
  // Rewrites `s` (valid UTF-8) in place.
  virtual void normalize(std::string& s) const = 0;
};

// Null JSON gives nullptr (no normalisation). Throws purelm::Error on unsupported types.
std::unique_ptr<Normalizer> make_normalizer(const nlohmann::json& j);

}  // namespace purelm::tok
