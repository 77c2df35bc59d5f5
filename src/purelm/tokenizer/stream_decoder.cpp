// StreamDecoder: the incremental decoding of HF's DecodeStream. Each step decodes a short window of
// ids (the last emitted token as context plus anything held back) and emits what the new id added.
#include <utility>

#include "purelm/tokenizer/tokenizer.h"

namespace purelm {

namespace {

bool ends_incomplete(const std::string& s) { return s.ends_with("\xEF\xBF\xBD"); }  // U+FFFD

// Does the text of `ids` end in a run of byte-fallback tokens ("<0xXX>")? Such a run is decoded
// as a whole, and becomes one U+FFFD per byte if the bytes that follow make it invalid UTF-8
// ("\x19" then 0xEB), so no part of it is final yet. Ids that decode drops (unknown, skipped
// special) do not end a run.
bool ends_in_byte_run(const Tokenizer& tok, const std::vector<int32_t>& ids, bool skip_special) {
  for (auto it = ids.rbegin(); it != ids.rend(); ++it) {
    std::optional<std::string> t = tok.id_to_token(*it);
    if (!t || (skip_special && tok.is_special(*it))) continue;
    return t->size() == 6 && t->starts_with("<0x") && t->back() == '>';
  }
  return false;
}

}  // namespace

StreamDecoder::StreamDecoder(Tokenizer tokenizer, bool skip_special)
    : tok_(std::move(tokenizer)), skip_special_(skip_special) {}

std::string StreamDecoder::step(int32_t id) {
  if (prefix_.empty() && !ids_.empty()) {
    // Nothing emitted from the window yet (e.g. only skipped special tokens): take it all as
    // context.
    std::string all = tok_.decode(ids_, skip_special_);
    if (!ends_incomplete(all) && !ends_in_byte_run(tok_, ids_, skip_special_)) {
      prefix_ = std::move(all);
      prefix_len_ = ids_.size();
    }
  }
  ids_.push_back(id);
  std::string text = tok_.decode(ids_, skip_special_);
  if (text.size() <= prefix_.size() || ends_incomplete(text) ||
      ends_in_byte_run(tok_, ids_, skip_special_))
    return "";
  // The window's text normally extends what was emitted; if a decoder rule ever rewrote the
  // context, emit only past the common part rather than repeat text.
  size_t common = 0;
  while (common < prefix_.size() && text[common] == prefix_[common]) ++common;
  std::string fresh = text.substr(common);
  ids_.erase(ids_.begin(), ids_.begin() + static_cast<std::ptrdiff_t>(prefix_len_));
  prefix_ = tok_.decode(ids_, skip_special_);
  prefix_len_ = ids_.size();
  return fresh;
}

std::string StreamDecoder::flush() {
  std::string text = tok_.decode(ids_, skip_special_);
  std::string rest = text.size() > prefix_.size() ? text.substr(prefix_.size()) : "";
  reset();
  return rest;
}

void StreamDecoder::reset() {
  ids_.clear();
  prefix_.clear();
  prefix_len_ = 0;
}

}  // namespace purelm
