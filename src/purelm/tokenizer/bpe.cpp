#include "purelm/tokenizer/bpe.h"

#include <algorithm>
#include <cstdio>
#include <nlohmann/json.hpp>

#include "purelm/core/error.h"
#include "purelm/tokenizer/token_id.h"
#include "purelm/tokenizer/unicode.h"

namespace purelm::tok {

namespace {

using json = nlohmann::json;

constexpr size_t kMaxCachedWordBytes = 256;  // HF's MAX_LENGTH

std::string string_or_empty(const json& j, const char* key) {
  auto it = j.find(key);
  return it == j.end() || it->is_null() ? std::string() : it->get<std::string>();
}

}  // namespace

Bpe::Bpe(const json& model) {
  std::string type = string_or_empty(model, "type");
  check(type.empty() || type == "BPE", "unsupported model type \"", type,
        "\" (only BPE is implemented)");
  auto dropout = model.find("dropout");
  check(dropout == model.end() || dropout->is_null() || dropout->get<double>() == 0.0,
        "BPE dropout is not supported (it makes encoding random)");
  continuing_prefix_ = string_or_empty(model, "continuing_subword_prefix");
  end_suffix_ = string_or_empty(model, "end_of_word_suffix");
  unk_token_ = string_or_empty(model, "unk_token");
  byte_fallback_ = model.value("byte_fallback", false);
  fuse_unk_ = model.value("fuse_unk", false);
  ignore_merges_ = model.value("ignore_merges", false);

  const json& vocab = model.at("vocab");
  vocab_.reserve(vocab.size());
  for (const auto& [token, id] : vocab.items()) {
    const int32_t i = token_id(id, "vocab \"" + token + "\"");
    vocab_.emplace(token, i);
    if (static_cast<size_t>(i) >= tokens_.size()) tokens_.resize(i + 1);
    tokens_[i] = token;
  }

  const json& merges = model.at("merges");
  merges_.reserve(merges.size());
  char_ids_.assign(0x800, -1);
  for (const auto& [token, id] : vocab_) {
    size_t i = 0;
    char32_t cp = token.empty() ? 0 : next_codepoint(token, i);
    if (!token.empty() && i == token.size() && cp < char_ids_.size()) char_ids_[cp] = id;
  }
  int32_t rank = 0;
  for (const auto& m : merges) {
    std::string a, b;
    if (m.is_string()) {  // "a b"
      const auto& s = m.get_ref<const std::string&>();
      size_t sp = s.find(' ');
      check(sp != std::string::npos && s.find(' ', sp + 1) == std::string::npos, "merge \"", s,
            "\" is not two tokens separated by one space");
      a = s.substr(0, sp), b = s.substr(sp + 1);
    } else {  // ["a", "b"]
      check(m.is_array() && m.size() == 2, "bad merge ", m.dump());
      a = m[0].get<std::string>(), b = m[1].get<std::string>();
    }
    std::string merged = a + (continuing_prefix_.size() && b.starts_with(continuing_prefix_)
                                  ? b.substr(continuing_prefix_.size())
                                  : b);
    auto ia = token_to_id(a), ib = token_to_id(b), im = token_to_id(merged);
    check(ia && ib && im, "merge \"", a, " ", b, "\" uses a token missing from the vocab");
    merges_.set(*ia, *ib, Merge{rank++, *im});  // a repeated pair: last wins, as in HF
  }

  for (int b = 0; b < 256; ++b) {
    char name[8];
    std::snprintf(name, sizeof name, "<0x%02X>", b);
    byte_ids_[b] = token_to_id(name).value_or(-1);
  }
}

void Bpe::MergeTable::reserve(size_t n) {
  size_t cap = 16;
  for (shift_ = 60; cap < 2 * n; cap *= 2) --shift_;
  slots_.assign(cap, Slot{0, Merge{}});
}

void Bpe::MergeTable::set(int32_t a, int32_t b, Merge m) {
  uint64_t key = uint64_t(uint32_t(a)) << 32 | uint32_t(b);
  size_t mask = slots_.size() - 1;
  size_t i = index(key);
  while (slots_[i].m.rank >= 0 && slots_[i].key != key) i = (i + 1) & mask;
  slots_[i] = {key, m};
}

Bpe::Merge Bpe::MergeTable::get(int32_t a, int32_t b) const {
  uint64_t key = uint64_t(uint32_t(a)) << 32 | uint32_t(b);
  size_t mask = slots_.size() - 1;
  for (size_t i = index(key); slots_[i].m.rank >= 0; i = (i + 1) & mask) {
    if (slots_[i].key == key) return slots_[i].m;
  }
  return {};
}

std::optional<int32_t> Bpe::token_to_id(std::string_view token) const {
  auto it = vocab_.find(token);
  if (it == vocab_.end()) return std::nullopt;
  return it->second;
}

const std::string* Bpe::id_to_token(int32_t id) const {
  // An empty slot is a gap in the id range (no BPE token is the empty string).
  return id >= 0 && id < size() && !tokens_[id].empty() ? &tokens_[id] : nullptr;
}

void Bpe::encode(std::string_view word, std::vector<int32_t>& out) const {
  if (word.empty()) return;
  if (ignore_merges_) {
    if (auto id = token_to_id(word)) return out.push_back(*id);
  }
  bool cacheable = word.size() < kMaxCachedWordBytes;
  uint64_t h = cacheable ? WordCache::hash(word) : 0;
  if (cacheable && cache_.lookup(word, h, out)) return;
  size_t first = out.size();
  merge_word(word, out);
  if (cacheable) cache_.insert(word, h, out.data() + first, out.size() - first);
}

// One symbol per character (with the subword prefix / word suffix when configured); a character
// outside the vocab becomes its "<0xXX>" byte tokens (byte_fallback), else unk_token (runs of
// unknowns fused into one with fuse_unk), else it is dropped, as in HF.
void Bpe::initial_symbols(std::string_view word, std::vector<int32_t>& ids) const {
  bool pending_unk = false;
  auto flush_unk = [&] {
    if (!pending_unk) return;
    auto unk = token_to_id(unk_token_);
    check(unk.has_value(), "tokenizer: unk_token \"", unk_token_, "\" is not in the vocab");
    ids.push_back(*unk);
    pending_unk = false;
  };
  std::string piece;
  for (size_t i = 0; i < word.size();) {
    size_t start = i;
    i += utf8_len(static_cast<unsigned char>(word[i]));
    i = std::min(i, word.size());
    std::string_view ch = word.substr(start, i - start);
    std::optional<int32_t> id;
    if (continuing_prefix_.empty() && end_suffix_.empty()) {
      size_t k = 0;
      char32_t cp = next_codepoint(ch, k);
      if (cp < char_ids_.size() && char_ids_[cp] >= 0)
        id = char_ids_[cp];
      else
        id = token_to_id(ch);
    } else {
      piece.clear();
      if (start > 0) piece += continuing_prefix_;
      piece += ch;
      if (i == word.size()) piece += end_suffix_;
      id = token_to_id(piece);
      ch = piece;
    }
    if (id) {
      flush_unk();
      ids.push_back(*id);
      continue;
    }
    if (byte_fallback_ && std::all_of(ch.begin(), ch.end(), [&](char c) {
          return byte_ids_[static_cast<unsigned char>(c)] >= 0;
        })) {
      flush_unk();
      for (char c : ch) ids.push_back(byte_ids_[static_cast<unsigned char>(c)]);
      continue;
    }
    if (unk_token_.empty()) continue;
    if (!fuse_unk_) flush_unk();
    pending_unk = true;
  }
  flush_unk();
}

// Applies merges lowest rank first (leftmost on ties), exactly as HF's Word::merge_all: a heap of
// candidate pairs over a linked list of symbols; entries made stale by earlier merges are skipped.
void Bpe::merge_word(std::string_view word, std::vector<int32_t>& out) const {
  struct Symbol {
    int32_t id, prev, next;
    bool alive;
  };
  struct Entry {
    int32_t rank, pos, new_id;
  };
  thread_local std::vector<int32_t> ids;  // scratch, reused: this runs once per new word
  thread_local std::vector<Symbol> sym;
  thread_local std::vector<Entry> heap;
  ids.clear();
  heap.clear();
  initial_symbols(word, ids);
  const int32_t n = static_cast<int32_t>(ids.size());
  if (n <= 1) {
    out.insert(out.end(), ids.begin(), ids.end());
    return;
  }

  sym.resize(n);
  for (int32_t i = 0; i < n; ++i) sym[i] = {ids[i], i - 1, i + 1 < n ? i + 1 : -1, true};

  auto later = [](const Entry& a, const Entry& b) {
    return a.rank != b.rank ? a.rank > b.rank : a.pos > b.pos;
  };
  auto push = [&](int32_t pos) {
    Merge m = merges_.get(sym[pos].id, sym[sym[pos].next].id);
    if (m.rank < 0) return;
    heap.push_back({m.rank, pos, m.new_id});
    std::push_heap(heap.begin(), heap.end(), later);
  };
  for (int32_t i = 0; i + 1 < n; ++i) push(i);

  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), later);
    Entry top = heap.back();
    heap.pop_back();
    Symbol& cur = sym[top.pos];
    if (!cur.alive || cur.next < 0) continue;
    Symbol& right = sym[cur.next];
    if (merges_.get(cur.id, right.id).new_id != top.new_id) continue;  // stale entry
    cur.id = top.new_id;
    right.alive = false;
    cur.next = right.next;
    if (cur.next >= 0) sym[cur.next].prev = top.pos;
    if (cur.prev >= 0) push(cur.prev);
    if (cur.next >= 0) push(top.pos);
  }
  for (int32_t i = 0; i >= 0; i = sym[i].next) out.push_back(sym[i].id);
}

}  // namespace purelm::tok
