// WordCache: the BPE result of words seen before (internal header).
//
// Encoding English text is mostly looking words up here, so the table is flat (open addressing,
// keys and ids in two arenas): a lookup touches one slot and one key instead of chasing the nodes
// of a std::unordered_map. Thread-safe; bounded like HF's BPE cache (once full, nothing is added).
#pragma once

#include <cstdint>
#include <shared_mutex>
#include <string>
#include <string_view>
#include <vector>

namespace purelm::tok {

class WordCache {
 public:
  explicit WordCache(size_t max_entries) : max_entries_(max_entries) {}

  static uint64_t hash(std::string_view word);
  // Appends the ids cached for `word` to `out`; false when it is not cached.
  bool lookup(std::string_view word, uint64_t h, std::vector<int32_t>& out) const;
  void insert(std::string_view word, uint64_t h, const int32_t* ids, size_t n);

 private:
  struct Slot {
    uint64_t hash = 0;
    uint32_t key_off = 0, ids_off = 0;
    uint16_t key_len = 0, ids_len = 0;  // key_len 0 marks an empty slot (words are never empty)
  };
  size_t find_slot(std::string_view word,
                   uint64_t h) const;  // the word's slot, or the empty one where it would go
  void grow();

  size_t max_entries_, size_ = 0;
  std::vector<Slot> slots_;  // size a power of two, at most half full
  std::string keys_;
  std::vector<int32_t> ids_;
  mutable std::shared_mutex mutex_;
};

}  // namespace purelm::tok
