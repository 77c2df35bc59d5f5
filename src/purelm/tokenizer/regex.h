// Regular expressions for tokenizer.json patterns (internal header).
//
// Why PCRE2: HuggingFace's pre-tokenizers are written as Perl/Oniguruma-style regexes (GPT-2's
// `'s|'t|... ?\p{L}+| ?\p{N}+|\s+(?!\S)|\s+`, Llama 3's and Qwen's variants) that use Unicode
// properties, case-insensitive groups and look-ahead. std::regex has none of those; PCRE2 runs them
// with the same backtracking semantics, in UTF + UCP mode (so \s, \w, \p{L}, \p{N} are
// Unicode-aware), and its JIT compiler makes the split a small part of encoding time.
#pragma once

#include <memory>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>

#include "purelm/tokenizer/unicode.h"

namespace purelm::tok {

using MatchFn = FunctionRef<void(size_t start, size_t end)>;

class Regex {
 public:
  explicit Regex(std::string_view pattern);  // throws purelm::Error on a bad pattern
  // Calls f for each non-empty, non-overlapping match, left to right. `s` must be valid UTF-8.
  void for_each_match(std::string_view s, MatchFn f) const;

 private:
  std::shared_ptr<void> code_;  // pcre2_code_8, freed by pcre2_code_free
};

// tokenizer.json's pattern object: {"String": "literal"} or {"Regex": "..."}.
class Pattern {
 public:
  static Pattern from_json(const nlohmann::json& j);
  void for_each_match(std::string_view s, MatchFn f) const;
  std::string replace_all(std::string_view s, std::string_view with) const;

 private:
  std::string literal_;
  std::shared_ptr<const Regex> regex_;  // null for a literal
};

}  // namespace purelm::tok
