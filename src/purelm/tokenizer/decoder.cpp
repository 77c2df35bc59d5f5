#include "purelm/tokenizer/decoder.h"

#include <nlohmann/json.hpp>

#include "purelm/core/error.h"
#include "purelm/tokenizer/regex.h"
#include "purelm/tokenizer/unicode.h"

namespace purelm::tok {

namespace {

using json = nlohmann::json;

std::string join(const std::vector<std::string>& tokens) {
  std::string out;
  for (const auto& t : tokens) out += t;
  return out;
}

// Characters back to bytes; a token holding a character outside the map (an added token such as
// "<|im_end|>" mostly maps, but e.g. non-Latin added tokens do not) is kept as its own UTF-8.
// Bytes that do not form valid UTF-8 become U+FFFD.
class ByteLevel : public Decoder {
 public:
  void decode(std::vector<std::string>& tokens) const override {
    std::string bytes;
    for (const auto& t : tokens) {
      size_t mark = bytes.size();
      for (size_t i = 0; i < t.size();) {
        int b = unicode_to_byte(next_codepoint(t, i));
        if (b < 0) {
          bytes.resize(mark);
          bytes += t;
          break;
        }
        bytes += static_cast<char>(b);
      }
    }
    tokens.assign(1, is_valid_utf8(bytes) ? std::move(bytes) : to_valid_utf8(bytes));
  }
};

// "<0xXX>" tokens back to bytes; a run of them that is not valid UTF-8 gives one U+FFFD per byte.
class ByteFallback : public Decoder {
 public:
  void decode(std::vector<std::string>& tokens) const override {
    std::vector<std::string> out;
    std::string run;
    size_t run_len = 0;
    auto flush = [&] {
      if (run_len == 0) return;
      if (is_valid_utf8(run)) {
        out.push_back(run);
      } else {
        for (size_t k = 0; k < run_len; ++k) out.emplace_back("\xEF\xBF\xBD");
      }
      run.clear();
      run_len = 0;
    };
    for (auto& t : tokens) {
      int b = byte_of(t);
      if (b >= 0) {
        run += static_cast<char>(b);
        ++run_len;
      } else {
        flush();
        out.push_back(std::move(t));
      }
    }
    flush();
    tokens = std::move(out);
  }

 private:
  static int hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }
  static int byte_of(const std::string& t) {
    if (t.size() != 6 || !t.starts_with("<0x") || t[5] != '>') return -1;
    int hi = hex(t[3]), lo = hex(t[4]);
    return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
  }
};

class Fuse : public Decoder {
 public:
  void decode(std::vector<std::string>& tokens) const override { tokens.assign(1, join(tokens)); }
};

// Removes up to `start` leading and `stop` trailing copies of one character from every token.
class Strip : public Decoder {
 public:
  Strip(std::string content, size_t start, size_t stop)
      : content_(std::move(content)), start_(start), stop_(stop) {}
  void decode(std::vector<std::string>& tokens) const override {
    for (auto& t : tokens) {
      size_t begin = 0, end = t.size();
      for (size_t k = 0; k < start_ && std::string_view(t).substr(begin).starts_with(content_);
           ++k) {
        begin += content_.size();
      }
      for (size_t k = 0; k < stop_ && end >= begin + content_.size() &&
                         std::string_view(t).substr(0, end).ends_with(content_);
           ++k) {
        end -= content_.size();
      }
      t = t.substr(begin, end - begin);
    }
  }

 private:
  std::string content_;
  size_t start_, stop_;
};

class Replace : public Decoder {
 public:
  Replace(Pattern p, std::string content) : p_(std::move(p)), content_(std::move(content)) {}
  void decode(std::vector<std::string>& tokens) const override {
    for (auto& t : tokens) t = p_.replace_all(t, content_);
  }

 private:
  Pattern p_;
  std::string content_;
};

// The replacement character becomes a space, except in the first token where HF drops it (the
// space the pre-tokenizer prepended) unless prepend_scheme is "never".
class Metaspace : public Decoder {
 public:
  Metaspace(std::string replacement, bool drop_in_first)
      : p_(Pattern::from_json({{"String", replacement}})), drop_in_first_(drop_in_first) {}
  void decode(std::vector<std::string>& tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i)
      tokens[i] = p_.replace_all(tokens[i], i == 0 && drop_in_first_ ? "" : " ");
  }

 private:
  Pattern p_;
  bool drop_in_first_;
};

// The end-of-word suffix becomes a space, except after the last token.
class BpeSuffix : public Decoder {
 public:
  explicit BpeSuffix(std::string suffix) : p_(Pattern::from_json({{"String", suffix}})) {}
  void decode(std::vector<std::string>& tokens) const override {
    for (size_t i = 0; i < tokens.size(); ++i)
      tokens[i] = p_.replace_all(tokens[i], i + 1 == tokens.size() ? "" : " ");
  }

 private:
  Pattern p_;
};

class Sequence : public Decoder {
 public:
  explicit Sequence(std::vector<std::unique_ptr<Decoder>> parts) : parts_(std::move(parts)) {}
  void decode(std::vector<std::string>& tokens) const override {
    for (const auto& p : parts_) p->decode(tokens);
  }

 private:
  std::vector<std::unique_ptr<Decoder>> parts_;
};

}  // namespace

std::unique_ptr<Decoder> make_decoder(const json& j) {
  if (j.is_null()) return nullptr;
  const std::string type = j.at("type").get<std::string>();
  if (type == "ByteLevel") return std::make_unique<ByteLevel>();
  if (type == "ByteFallback") return std::make_unique<ByteFallback>();
  if (type == "Fuse") return std::make_unique<Fuse>();
  if (type == "Strip") {
    return std::make_unique<Strip>(j.at("content").get<std::string>(), j.value("start", size_t{0}),
                                   j.value("stop", size_t{0}));
  }
  if (type == "Replace") {
    return std::make_unique<Replace>(Pattern::from_json(j.at("pattern")),
                                     j.at("content").get<std::string>());
  }
  if (type == "Metaspace") {
    bool drop = j.contains("prepend_scheme") ? j.at("prepend_scheme").get<std::string>() != "never"
                                             : j.value("add_prefix_space", true);
    return std::make_unique<Metaspace>(j.at("replacement").get<std::string>(), drop);
  }
  if (type == "BPEDecoder")
    return std::make_unique<BpeSuffix>(j.value("suffix", std::string("</w>")));
  if (type == "Sequence") {
    std::vector<std::unique_ptr<Decoder>> parts;
    for (const auto& d : j.at("decoders")) {
      if (auto p = make_decoder(d)) parts.push_back(std::move(p));
    }
    return std::make_unique<Sequence>(std::move(parts));
  }
  fail("unsupported decoder type \"", type, "\"");
}

}  // namespace purelm::tok
