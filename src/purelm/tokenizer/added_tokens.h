// Added tokens: tokenizer.json's "added_tokens", found in the text before the model sees it
// (internal header).
#pragma once

#include <array>
#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <string>
#include <string_view>
#include <vector>

#include "purelm/tokenizer/bpe.h"
#include "purelm/tokenizer/normalizer.h"
#include "purelm/tokenizer/unicode.h"

namespace purelm::tok {

struct AddedToken {
  int32_t id = -1;
  std::string content;
  bool single_word = false, lstrip = false, rstrip = false, normalized = false, special = false;
};

// HF's AddedVocabulary. Tokens with normalized=false (all special tokens in practice) are matched
// on the raw input; tokens with normalized=true on the normalized text of what lies between, with
// their content normalized too. Matching is leftmost-longest, then single_word, lstrip and rstrip
// are applied as HF does.
class AddedVocabulary {
 public:
  AddedVocabulary() = default;
  AddedVocabulary(const nlohmann::json& added_tokens, const Normalizer* normalizer);

  // Called for consecutive segments of the text: id >= 0 for an added token (`text` then includes
  // any stripped whitespace), -1 for plain text. `offset` is the segment's start in the input.
  using SegmentFn = FunctionRef<void(std::string_view text, size_t offset, int32_t id)>;
  void split(std::string_view text, bool normalized_pass, SegmentFn f) const;

  const AddedToken* by_id(int32_t id) const;
  const AddedToken* by_content(std::string_view content) const;
  int32_t end_id() const { return static_cast<int32_t>(index_of_id_.size()); }  // largest id + 1

 private:
  // Patterns indexed by first byte, longest first: a scan gives the leftmost-longest match.
  struct Matcher {
    std::vector<std::pair<std::string, size_t>> patterns;  // (text, index into tokens_)
    std::array<std::vector<size_t>, 256> by_first_byte;
    void build();
  };
  void split_with(const Matcher& m, std::string_view text, SegmentFn f) const;

  std::vector<AddedToken> tokens_;
  StringMap<size_t> by_content_;
  std::vector<int32_t> index_of_id_;  // id -> index into tokens_, -1 when not an added token
  Matcher raw_, normalized_;
};

}  // namespace purelm::tok
