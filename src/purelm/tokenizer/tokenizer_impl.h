// The parts a Tokenizer is made of (internal header).
#pragma once

#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>

#include "purelm/io/text_file.h"
#include "purelm/tokenizer/added_tokens.h"
#include "purelm/tokenizer/bpe.h"
#include "purelm/tokenizer/decoder.h"
#include "purelm/tokenizer/normalizer.h"
#include "purelm/tokenizer/post_processor.h"
#include "purelm/tokenizer/pre_tokenizer.h"
#include "purelm/tokenizer/tokenizer.h"

namespace purelm {

// What tokenizer_config.json and chat_template.jinja add to tokenizer.json.
struct TokenizerConfig {
  std::string bos_token, eos_token, pad_token, unk_token, chat_template;
};

// Reads `dir`/tokenizer_config.json and `dir`/chat_template.jinja, both optional.
TokenizerConfig read_tokenizer_config(const std::string& dir);

struct Tokenizer::Impl {
  std::unique_ptr<tok::Normalizer> normalizer;
  std::unique_ptr<tok::PreTokenizer> pre_tokenizer;
  std::unique_ptr<tok::Bpe> model;
  tok::AddedVocabulary added;
  tok::PostProcessor post;
  std::unique_ptr<tok::Decoder> decoder;
  TokenizerConfig config;

  explicit Impl(const nlohmann::json& tokenizer_json);
  // Encodes one segment that holds no added token.
  void encode_plain(std::string_view text, bool at_start, std::vector<int32_t>& ids) const;
};

}  // namespace purelm
