#include "purelm/tokenizer/word_cache.h"

#include <cstring>
#include <mutex>

namespace purelm::tok {

uint64_t WordCache::hash(std::string_view word) {
  // 8 bytes at a time, multiply-xorshift mixing: fast for short words and good in the low bits.
  uint64_t h = 0x9E3779B97F4A7C15ull ^ word.size();
  size_t i = 0;
  for (; i + 8 <= word.size(); i += 8) {
    uint64_t v;
    std::memcpy(&v, word.data() + i, 8);
    h = (h ^ v) * 0xFF51AFD7ED558CCDull;
    h ^= h >> 32;
  }
  uint64_t tail = 0;
  std::memcpy(&tail, word.data() + i, word.size() - i);
  h = (h ^ tail) * 0xC4CEB9FE1A85EC53ull;
  return h ^ (h >> 29);
}

size_t WordCache::find_slot(std::string_view word, uint64_t h) const {
  size_t mask = slots_.size() - 1;
  for (size_t i = h & mask;; i = (i + 1) & mask) {
    const Slot& s = slots_[i];
    if (s.key_len == 0) return i;
    if (s.hash == h && s.key_len == word.size() &&
        std::memcmp(keys_.data() + s.key_off, word.data(), word.size()) == 0) {
      return i;
    }
  }
}

bool WordCache::lookup(std::string_view word, uint64_t h, std::vector<int32_t>& out) const {
  std::shared_lock lock(mutex_);
  if (slots_.empty()) return false;
  const Slot& s = slots_[find_slot(word, h)];
  if (s.key_len == 0) return false;
  out.insert(out.end(), ids_.begin() + s.ids_off, ids_.begin() + s.ids_off + s.ids_len);
  return true;
}

void WordCache::insert(std::string_view word, uint64_t h, const int32_t* ids, size_t n) {
  if (word.empty() || word.size() > UINT16_MAX || n > UINT16_MAX) return;
  std::unique_lock lock(mutex_);
  if (size_ >= max_entries_) return;
  if (2 * (size_ + 1) > slots_.size()) grow();
  Slot& s = slots_[find_slot(word, h)];
  if (s.key_len != 0) return;  // another thread got here first
  s = {h, static_cast<uint32_t>(keys_.size()), static_cast<uint32_t>(ids_.size()),
       static_cast<uint16_t>(word.size()), static_cast<uint16_t>(n)};
  keys_.append(word);
  ids_.insert(ids_.end(), ids, ids + n);
  ++size_;
}

void WordCache::grow() {
  std::vector<Slot> old = std::move(slots_);
  slots_.assign(old.empty() ? 1024 : 2 * old.size(), Slot{});
  size_t mask = slots_.size() - 1;
  for (const Slot& s : old) {
    if (s.key_len == 0) continue;
    size_t i = s.hash & mask;
    while (slots_[i].key_len != 0) i = (i + 1) & mask;
    slots_[i] = s;
  }
}

}  // namespace purelm::tok
