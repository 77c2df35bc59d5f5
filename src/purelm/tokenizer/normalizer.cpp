#include "purelm/tokenizer/normalizer.h"

#include <utf8proc.h>

#include <algorithm>
#include <cstdlib>
#include <nlohmann/json.hpp>
#include <vector>

#include "purelm/core/error.h"
#include "purelm/tokenizer/regex.h"
#include "purelm/tokenizer/unicode.h"

namespace purelm::tok {

namespace {

using json = nlohmann::json;

// NFC / NFD / NFKC / NFKD through utf8proc_map.
class UnicodeForm : public Normalizer {
 public:
  UnicodeForm(utf8proc_option_t options, unsigned char unchanged_below)
      : options_(options), unchanged_below_(unchanged_below) {}
  void normalize(std::string& s) const override {
    // Fast path: text whose bytes are all below the threshold is already in this form (ASCII for
    // every form; for NFC also anything below U+0300, whose lead bytes are < 0xCC).
    if (std::all_of(s.begin(), s.end(),
                    [&](char c) { return static_cast<unsigned char>(c) < unchanged_below_; })) {
      return;
    }
    utf8proc_uint8_t* out = nullptr;
    auto n = utf8proc_map(reinterpret_cast<const utf8proc_uint8_t*>(s.data()),
                          static_cast<utf8proc_ssize_t>(s.size()), &out, options_);
    if (n < 0) fail("tokenizer: Unicode normalisation failed: ", utf8proc_errmsg(n));
    s.assign(reinterpret_cast<const char*>(out), static_cast<size_t>(n));
    std::free(out);
  }

 private:
  utf8proc_option_t options_;
  unsigned char unchanged_below_;
};

// Full (not simple) lowercase mapping per character, like Rust's char::to_lowercase.
class Lowercase : public Normalizer {
 public:
  void normalize(std::string& s) const override {
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size();) {
      char32_t c = next_codepoint(s, i);
      if (c == 0x130) {  // the one unconditional multi-character lowercase: İ -> i + U+0307
        out += "i\xCC\x87";
      } else {
        append_utf8(out, static_cast<char32_t>(utf8proc_tolower(static_cast<utf8proc_int32_t>(c))));
      }
    }
    s = std::move(out);
  }
};

class Strip : public Normalizer {
 public:
  Strip(bool left, bool right) : left_(left), right_(right) {}
  void normalize(std::string& s) const override {
    size_t begin = 0, end = s.size();
    if (left_) {
      for (size_t i = 0; i < s.size(); begin = i) {
        if (!is_whitespace(next_codepoint(s, i))) break;
      }
    }
    if (right_) {
      size_t keep = begin;  // end of the last non-whitespace character
      for (size_t i = begin; i < end;) {
        if (!is_whitespace(next_codepoint(s, i))) keep = i;
      }
      end = keep;
    }
    s = s.substr(begin, end - begin);
  }

 private:
  bool left_, right_;
};

class StripAccents : public Normalizer {
 public:
  void normalize(std::string& s) const override {
    std::string out;
    out.reserve(s.size());
    for (size_t i = 0; i < s.size();) {
      size_t start = i;
      auto cat = utf8proc_category(static_cast<utf8proc_int32_t>(next_codepoint(s, i)));
      bool mark =
          cat == UTF8PROC_CATEGORY_MN || cat == UTF8PROC_CATEGORY_MC || cat == UTF8PROC_CATEGORY_ME;
      if (!mark) out.append(s, start, i - start);
    }
    s = std::move(out);
  }
};

class Prepend : public Normalizer {
 public:
  explicit Prepend(std::string prefix) : prefix_(std::move(prefix)) {}
  void normalize(std::string& s) const override {
    if (!s.empty()) s.insert(0, prefix_);  // HF leaves the empty string empty
  }

 private:
  std::string prefix_;
};

class Replace : public Normalizer {
 public:
  Replace(Pattern pattern, std::string content)
      : pattern_(std::move(pattern)), content_(std::move(content)) {}
  void normalize(std::string& s) const override { s = pattern_.replace_all(s, content_); }

 private:
  Pattern pattern_;
  std::string content_;
};

class Sequence : public Normalizer {
 public:
  explicit Sequence(std::vector<std::unique_ptr<Normalizer>> parts) : parts_(std::move(parts)) {}
  void normalize(std::string& s) const override {
    for (const auto& p : parts_) p->normalize(s);
  }

 private:
  std::vector<std::unique_ptr<Normalizer>> parts_;
};

}  // namespace

std::unique_ptr<Normalizer> make_normalizer(const json& j) {
  if (j.is_null()) return nullptr;
  const std::string type = j.at("type").get<std::string>();
  const auto stable = UTF8PROC_STABLE;
  if (type == "NFC")
    return std::make_unique<UnicodeForm>(utf8proc_option_t(stable | UTF8PROC_COMPOSE), 0xCC);
  if (type == "NFD")
    return std::make_unique<UnicodeForm>(utf8proc_option_t(stable | UTF8PROC_DECOMPOSE), 0x80);
  if (type == "NFKC") {
    return std::make_unique<UnicodeForm>(
        utf8proc_option_t(stable | UTF8PROC_COMPOSE | UTF8PROC_COMPAT), 0x80);
  }
  if (type == "NFKD") {
    return std::make_unique<UnicodeForm>(
        utf8proc_option_t(stable | UTF8PROC_DECOMPOSE | UTF8PROC_COMPAT), 0x80);
  }
  if (type == "Lowercase") return std::make_unique<Lowercase>();
  if (type == "StripAccents") return std::make_unique<StripAccents>();
  if (type == "Strip") {
    return std::make_unique<Strip>(j.value("strip_left", true), j.value("strip_right", true));
  }
  if (type == "Prepend") return std::make_unique<Prepend>(j.at("prepend").get<std::string>());
  if (type == "Replace") {
    return std::make_unique<Replace>(Pattern::from_json(j.at("pattern")),
                                     j.at("content").get<std::string>());
  }
  if (type == "Sequence") {
    std::vector<std::unique_ptr<Normalizer>> parts;
    for (const auto& p : j.at("normalizers")) {
      if (auto n = make_normalizer(p)) parts.push_back(std::move(n));
    }
    return std::make_unique<Sequence>(std::move(parts));
  }
  fail("unsupported normalizer type \"", type, "\"");
}

}  // namespace purelm::tok
