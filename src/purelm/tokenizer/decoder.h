// Decoders: tokenizer.json's "decoder" section, turning token strings back into text
// (internal header).
#pragma once

#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <vector>

namespace purelm::tok {

class Decoder {
 public:
  virtual ~Decoder() = default;
  // Rewrites the token strings in place (HF's decode_chain); the text is their concatenation.
  virtual void decode(std::vector<std::string>& tokens) const = 0;
};

// Null JSON gives nullptr (HF then joins the tokens with spaces). Throws purelm::Error on
// unsupported types.
std::unique_ptr<Decoder> make_decoder(const nlohmann::json& j);

}  // namespace purelm::tok
