#include "purelm/tokenizer/pre_tokenizer.h"

#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "purelm/core/error.h"
#include "purelm/tokenizer/regex.h"

namespace purelm::tok {

namespace {

using json = nlohmann::json;

// HuggingFace's SplitDelimiterBehavior: what happens to the matched delimiters.
enum class Behavior { Removed, Isolated, MergedWithPrevious, MergedWithNext, Contiguous };

Behavior parse_behavior(const std::string& s) {
  if (s == "Removed") return Behavior::Removed;
  if (s == "Isolated") return Behavior::Isolated;
  if (s == "MergedWithPrevious") return Behavior::MergedWithPrevious;
  if (s == "MergedWithNext") return Behavior::MergedWithNext;
  if (s == "Contiguous") return Behavior::Contiguous;
  fail("unknown split behavior \"", s, "\"");
}

// Receives `s` as consecutive spans (each a delimiter match or not) and emits the pieces that the
// behaviour makes of them, with at most one span of look-behind, so nothing is buffered.
class Splitter {
 public:
  Splitter(std::string_view s, bool at_start, Behavior b, PieceFn emit)
      : s_(s), at_start_(at_start), b_(b), emit_(emit) {}

  void add(size_t start, size_t end, bool match) {
    switch (b_) {
      case Behavior::Removed:
        if (!match) out(start, end);
        break;
      case Behavior::Isolated:
        out(start, end);
        break;
      case Behavior::MergedWithPrevious:  // a delimiter joins the non-delimiter before it
      case Behavior::Contiguous:          // runs of delimiters join into one piece
        if (pending_ &&
            (b_ == Behavior::Contiguous ? match == prev_match_ : match && !prev_match_)) {
          pending_->second = end;
        } else {
          flush();
          pending_ = {start, end};
        }
        break;
      case Behavior::MergedWithNext:  // a delimiter joins the non-delimiter after it
        if (pending_ && !match) {
          out(pending_->first, end);
          pending_.reset();
        } else {
          flush();
          if (match)
            pending_ = {start, end};
          else
            out(start, end);
        }
        break;
    }
    prev_match_ = match;
  }

  void finish() { flush(); }

 private:
  void out(size_t start, size_t end) {
    if (end > start) emit_(s_.substr(start, end - start), at_start_ && start == 0);
  }
  void flush() {
    if (pending_) out(pending_->first, pending_->second);
    pending_.reset();
  }

  std::string_view s_;
  bool at_start_;
  Behavior b_;
  PieceFn emit_;
  std::optional<std::pair<size_t, size_t>> pending_;
  bool prev_match_ = false;
};

// Feeds the matches of a pattern, and the gaps between them, to a Splitter.
void split_on_pattern(const Pattern& p, bool invert, std::string_view s, bool at_start, Behavior b,
                      PieceFn emit) {
  Splitter sp(s, at_start, b, emit);
  size_t prev = 0;
  p.for_each_match(s, [&](size_t start, size_t end) {
    if (prev < start) sp.add(prev, start, invert);
    sp.add(start, end, !invert);
    prev = end;
  });
  if (prev < s.size()) sp.add(prev, s.size(), invert);
  sp.finish();
}

// Every character satisfying `pred` is one delimiter match (HF's char-predicate patterns).
template <class Pred>
void split_on_chars(Pred pred, std::string_view s, bool at_start, Behavior b, PieceFn emit) {
  Splitter sp(s, at_start, b, emit);
  size_t prev = 0;
  for (size_t i = 0; i < s.size();) {
    size_t start = i;
    if (!pred(next_codepoint(s, i))) continue;
    if (prev < start) sp.add(prev, start, false);
    sp.add(start, i, true);
    prev = i;
  }
  if (prev < s.size()) sp.add(prev, s.size(), false);
  sp.finish();
}

class Split : public PreTokenizer {
 public:
  Split(Pattern p, Behavior b, bool invert) : p_(std::move(p)), b_(b), invert_(invert) {}
  void split(std::string_view s, bool at_start, PieceFn emit) const override {
    split_on_pattern(p_, invert_, s, at_start, b_, emit);
  }

 private:
  Pattern p_;
  Behavior b_;
  bool invert_;
};

class ByteLevel : public PreTokenizer {
 public:
  ByteLevel(bool add_prefix_space, bool use_regex) : add_prefix_space_(add_prefix_space) {
    // GPT-2's split, used when use_regex is true.
    if (use_regex) {
      gpt2_ = Pattern::from_json(
          {{"Regex",
            R"('s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+)"}});
    }
  }
  void split(std::string_view s, bool at_start, PieceFn emit) const override {
    std::string prefixed;
    if (add_prefix_space_ && (s.empty() || s[0] != ' ')) {
      prefixed = " ";
      prefixed += s;
      s = prefixed;
    }
    std::string mapped;  // reused for every piece
    auto map = [&](std::string_view piece, bool first) {
      mapped.clear();
      append_byte_level(mapped, piece);
      emit(mapped, first);
    };
    if (gpt2_)
      split_on_pattern(*gpt2_, false, s, at_start, Behavior::Isolated, map);
    else
      map(s, at_start);
  }

 private:
  bool add_prefix_space_;
  std::optional<Pattern> gpt2_;
};

class Metaspace : public PreTokenizer {
 public:
  enum class Prepend { Always, First, Never };
  Metaspace(std::string replacement, Prepend prepend, bool split)
      : rep_(std::move(replacement)), prepend_(prepend), split_(split) {
    size_t i = 0;
    check(!rep_.empty(), "Metaspace replacement is empty");
    rep_cp_ = next_codepoint(rep_, i);
  }
  void split(std::string_view s, bool at_start, PieceFn emit) const override {
    std::string buf;
    for (char c : s) {
      if (c == ' ')
        buf += rep_;
      else
        buf += c;
    }
    bool prepend = prepend_ == Prepend::Always || (prepend_ == Prepend::First && at_start);
    if (prepend && !buf.starts_with(rep_)) buf.insert(0, rep_);
    if (!split_) return emit(buf, at_start);
    split_on_chars([&](char32_t c) { return c == rep_cp_; }, buf, at_start,
                   Behavior::MergedWithNext, emit);
  }

 private:
  std::string rep_;
  char32_t rep_cp_;
  Prepend prepend_;
  bool split_;
};

class CharSplit : public PreTokenizer {
 public:
  CharSplit(bool (*pred)(char32_t), Behavior b) : pred_(pred), b_(b) {}
  void split(std::string_view s, bool at_start, PieceFn emit) const override {
    split_on_chars(pred_, s, at_start, b_, emit);
  }

 private:
  bool (*pred_)(char32_t);
  Behavior b_;
};

class Sequence : public PreTokenizer {
 public:
  explicit Sequence(std::vector<std::unique_ptr<PreTokenizer>> parts) : parts_(std::move(parts)) {}
  void split(std::string_view s, bool at_start, PieceFn emit) const override {
    run(0, s, at_start, emit);
  }

 private:
  void run(size_t k, std::string_view s, bool at_start, PieceFn emit) const {
    if (k == parts_.size()) return emit(s, at_start);
    parts_[k]->split(s, at_start,
                     [&](std::string_view piece, bool first) { run(k + 1, piece, first, emit); });
  }
  std::vector<std::unique_ptr<PreTokenizer>> parts_;
};

Metaspace::Prepend parse_prepend(const json& j) {
  if (j.contains("prepend_scheme")) {
    auto s = j.at("prepend_scheme").get<std::string>();
    if (s == "always") return Metaspace::Prepend::Always;
    if (s == "first") return Metaspace::Prepend::First;
    if (s == "never") return Metaspace::Prepend::Never;
    fail("unknown Metaspace prepend_scheme \"", s, "\"");
  }
  // Files written before prepend_scheme existed say add_prefix_space instead.
  return j.value("add_prefix_space", true) ? Metaspace::Prepend::Always : Metaspace::Prepend::Never;
}

}  // namespace

std::unique_ptr<PreTokenizer> make_pre_tokenizer(const json& j) {
  if (j.is_null()) return nullptr;
  const std::string type = j.at("type").get<std::string>();
  if (type == "Split") {
    return std::make_unique<Split>(Pattern::from_json(j.at("pattern")),
                                   parse_behavior(j.at("behavior").get<std::string>()),
                                   j.value("invert", false));
  }
  if (type == "ByteLevel") {
    return std::make_unique<ByteLevel>(j.value("add_prefix_space", true),
                                       j.value("use_regex", true));
  }
  if (type == "Metaspace") {
    return std::make_unique<Metaspace>(j.at("replacement").get<std::string>(), parse_prepend(j),
                                       j.value("split", true));
  }
  if (type == "Digits") {
    auto b = j.value("individual_digits", false) ? Behavior::Isolated : Behavior::Contiguous;
    return std::make_unique<CharSplit>(is_numeric, b);
  }
  if (type == "Whitespace") {
    // Keeps the runs of word characters and the runs of other non-space characters.
    return std::make_unique<Split>(Pattern::from_json({{"Regex", R"(\w+|[^\w\s]+)"}}),
                                   Behavior::Removed, true);
  }
  if (type == "WhitespaceSplit")
    return std::make_unique<CharSplit>(is_whitespace, Behavior::Removed);
  if (type == "Punctuation") {
    return std::make_unique<CharSplit>(is_punctuation,
                                       parse_behavior(j.value("behavior", "Isolated")));
  }
  if (type == "BertPreTokenizer") {
    std::vector<std::unique_ptr<PreTokenizer>> parts;
    parts.push_back(std::make_unique<CharSplit>(is_whitespace, Behavior::Removed));
    parts.push_back(std::make_unique<CharSplit>(is_punctuation, Behavior::Isolated));
    return std::make_unique<Sequence>(std::move(parts));
  }
  if (type == "Sequence") {
    std::vector<std::unique_ptr<PreTokenizer>> parts;
    for (const auto& p : j.at("pretokenizers")) {
      if (auto pt = make_pre_tokenizer(p)) parts.push_back(std::move(pt));
    }
    return std::make_unique<Sequence>(std::move(parts));
  }
  fail("unsupported pre_tokenizer type \"", type, "\"");
}

}  // namespace purelm::tok
