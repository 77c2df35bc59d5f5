#include "purelm/tokenizer/added_tokens.h"

#include <algorithm>
#include <nlohmann/json.hpp>
#include <optional>

#include "purelm/core/error.h"
#include "purelm/tokenizer/token_id.h"

namespace purelm::tok {

namespace {

// The character that ends `s` (valid UTF-8, non-empty).
char32_t last_codepoint(std::string_view s) {
  size_t i = s.size() - 1;
  while (i > 0 && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) --i;
  return next_codepoint(s, i);
}

// HF tests these with Rust regexes \w$ and ^\w.
bool ends_with_word(std::string_view s) { return !s.empty() && is_word_char(last_codepoint(s)); }
bool starts_with_word(std::string_view s) {
  size_t i = 0;
  return !s.empty() && is_word_char(next_codepoint(s, i));
}

// Start of the whitespace run that ends `s` (s.size() when there is none).
size_t trailing_space_start(std::string_view s) {
  size_t end = s.size();
  while (end > 0) {
    size_t i = end - 1;
    while (i > 0 && (static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) --i;
    size_t j = i;
    if (!is_whitespace(next_codepoint(s, j))) break;
    end = i;
  }
  return end;
}

// Length of the whitespace run that starts `s`.
size_t leading_space_len(std::string_view s) {
  size_t end = 0;
  for (size_t i = 0; i < s.size(); end = i) {
    if (!is_whitespace(next_codepoint(s, i))) break;
  }
  return end;
}

}  // namespace

void AddedVocabulary::Matcher::build() {
  for (size_t k = 0; k < patterns.size(); ++k) {
    by_first_byte[static_cast<unsigned char>(patterns[k].first[0])].push_back(k);
  }
  for (auto& list : by_first_byte) {
    std::stable_sort(list.begin(), list.end(), [&](size_t a, size_t b) {
      return patterns[a].first.size() > patterns[b].first.size();
    });
  }
}

AddedVocabulary::AddedVocabulary(const nlohmann::json& added_tokens, const Normalizer* normalizer) {
  for (const auto& j : added_tokens) {
    AddedToken t;
    t.id = token_id(j.at("id"), "added token");
    t.content = j.at("content").get<std::string>();
    t.single_word = j.value("single_word", false);
    t.lstrip = j.value("lstrip", false);
    t.rstrip = j.value("rstrip", false);
    t.normalized = j.value("normalized", !j.value("special", false));
    t.special = j.value("special", false);
    check(t.id >= 0, "added token \"", t.content, "\" has a negative id");
    if (t.content.empty() || by_content_.count(t.content))
      continue;  // HF keeps the first of duplicates
    size_t k = tokens_.size();
    by_content_.emplace(t.content, k);
    if (static_cast<size_t>(t.id) >= index_of_id_.size()) index_of_id_.resize(t.id + 1, -1);
    index_of_id_[t.id] = static_cast<int32_t>(k);
    std::string pattern = t.content;
    if (t.normalized && normalizer) normalizer->normalize(pattern);
    if (!pattern.empty()) (t.normalized ? normalized_ : raw_).patterns.emplace_back(pattern, k);
    tokens_.push_back(std::move(t));
  }
  raw_.build();
  normalized_.build();
}

const AddedToken* AddedVocabulary::by_id(int32_t id) const {
  if (id < 0 || static_cast<size_t>(id) >= index_of_id_.size() || index_of_id_[id] < 0)
    return nullptr;
  return &tokens_[index_of_id_[id]];
}

const AddedToken* AddedVocabulary::by_content(std::string_view content) const {
  auto it = by_content_.find(content);
  return it == by_content_.end() ? nullptr : &tokens_[it->second];
}

void AddedVocabulary::split(std::string_view text, bool normalized_pass, SegmentFn f) const {
  split_with(normalized_pass ? normalized_ : raw_, text, f);
}

void AddedVocabulary::split_with(const Matcher& m, std::string_view text, SegmentFn f) const {
  if (text.empty()) return;
  if (m.patterns.empty()) return f(text, 0, -1);
  // Leftmost-longest match starting at or after `from`, as (start, pattern index).
  auto find = [&](size_t from) -> std::optional<std::pair<size_t, size_t>> {
    for (size_t i = from; i < text.size(); ++i) {
      for (size_t k : m.by_first_byte[static_cast<unsigned char>(text[i])]) {
        if (text.substr(i).starts_with(m.patterns[k].first)) return std::pair{i, k};
      }
    }
    return std::nullopt;
  };
  size_t done = 0;  // text[0, done) has been handed out
  for (size_t from = 0; auto match = find(from);) {
    auto [start, k] = *match;
    size_t stop = start + m.patterns[k].first.size();
    from = stop;  // like the Aho-Corasick iterator, a rejected match is not retried shorter
    const AddedToken& t = tokens_[m.patterns[k].second];
    if (t.single_word && ((start > 0 && ends_with_word(text.substr(0, start))) ||
                          (stop < text.size() && starts_with_word(text.substr(stop))))) {
      continue;
    }
    if (t.lstrip) start = std::max(trailing_space_start(text.substr(0, start)), done);
    if (t.rstrip) stop += leading_space_len(text.substr(stop));
    from = stop;
    if (done < start) f(text.substr(done, start - done), done, -1);
    f(text.substr(start, stop - start), start, t.id);
    done = stop;
  }
  if (done < text.size()) f(text.substr(done), done, -1);
}

}  // namespace purelm::tok
