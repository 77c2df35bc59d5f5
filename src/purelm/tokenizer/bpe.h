// The BPE model of tokenizer.json (internal header).
#pragma once

#include <array>
#include <cstdint>
#include <nlohmann/json_fwd.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "purelm/tokenizer/word_cache.h"

namespace purelm::tok {

// Hash for maps keyed by std::string that are looked up with std::string_view without a copy.
struct StringHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};
template <class V>
using StringMap = std::unordered_map<std::string, V, StringHash, std::equal_to<>>;

class Bpe {
 public:
  // `model` is tokenizer.json's "model" object; throws purelm::Error when it is not a usable BPE.
  explicit Bpe(const nlohmann::json& model);

  // Appends the ids of one pre-tokenized word. Thread-safe.
  void encode(std::string_view word, std::vector<int32_t>& out) const;

  std::optional<int32_t> token_to_id(std::string_view token) const;
  const std::string* id_to_token(int32_t id) const;  // null when the model has no such id
  int32_t size() const { return static_cast<int32_t>(tokens_.size()); }  // largest id + 1

 private:
  struct Merge {
    int32_t rank = -1, new_id = -1;  // rank -1: no merge
  };
  // (left id, right id) -> Merge, open addressing: merging probes it several times per symbol.
  class MergeTable {
   public:
    void reserve(size_t n);
    void set(int32_t a, int32_t b, Merge m);
    Merge get(int32_t a, int32_t b) const;

   private:
    struct Slot {
      uint64_t key;
      Merge m;
    };
    size_t index(uint64_t key) const { return (key * 0x9E3779B97F4A7C15ull) >> shift_; }
    std::vector<Slot> slots_;
    int shift_ = 64;
  };
  void merge_word(std::string_view word, std::vector<int32_t>& out) const;
  void initial_symbols(std::string_view word, std::vector<int32_t>& ids) const;

  StringMap<int32_t> vocab_;
  std::vector<std::string> tokens_;  // id -> token ("" for gaps in the id range)
  MergeTable merges_;
  std::vector<int32_t>
      char_ids_;  // code point -> id of that one-character token (below U+0800), or -1
  std::string continuing_prefix_, end_suffix_, unk_token_;
  std::array<int32_t, 256> byte_ids_;  // "<0xXX>" tokens for byte_fallback, -1 when absent
  bool byte_fallback_ = false, fuse_unk_ = false, ignore_merges_ = false;

  mutable WordCache cache_{1 << 16};  // like HF's cache, which skips words of 256 bytes or more
};

}  // namespace purelm::tok
