#include "purelm/tokenizer/jinja/lexer.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <cstdlib>
#include <optional>

#include "purelm/core/error.h"
#include "purelm/tokenizer/jinja/text.h"

namespace purelm::jinja {

void fail_at(Pos pos, const std::string& message) {
  fail("chat template line ", pos.line, ", column ", pos.column, ": ", message);
}

namespace {

constexpr size_t npos = std::string::npos;

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_name_start(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' ||
         static_cast<unsigned char>(c) >= 0x80;
}
bool is_name_char(char c) { return is_name_start(c) || is_digit(c); }
bool is_hex(char c) { return std::isxdigit(static_cast<unsigned char>(c)) != 0; }

// Jinja2 turns \r\n and \r into \n and drops one trailing newline (keep_trailing_newline=False).
std::string normalize(std::string_view src) {
  std::string s;
  s.reserve(src.size());
  for (size_t i = 0; i < src.size(); ++i) {
    if (src[i] == '\r') {
      s += '\n';
      if (i + 1 < src.size() && src[i + 1] == '\n') ++i;
    } else {
      s += src[i];
    }
  }
  if (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

// The code point starting at s[i] if it is whitespace, else 0; `len` gets its byte length.
bool space_at(std::string_view s, size_t i, size_t& len) {
  auto b = static_cast<unsigned char>(s[i]);
  len = b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4;
  if (b < 0x80) return text::is_space(b);
  auto u = text::decode(s.substr(i, std::min(len, s.size() - i)));
  return u.size() == 1 && text::is_space(u[0]);
}

// Python's unicode-escape decoding, which Jinja2 applies to string literals.
std::string unescape(std::string_view raw, Pos pos) {
  std::string out;
  for (size_t i = 0; i < raw.size(); ++i) {
    if (raw[i] != '\\' || i + 1 == raw.size()) {
      out += raw[i];
      continue;
    }
    char c = raw[++i];
    auto hex = [&](size_t digits) {
      std::string h(raw.substr(i + 1, digits));
      if (h.size() != digits || !std::all_of(h.begin(), h.end(), is_hex))
        fail_at(pos, "truncated \\" + std::string(1, c) + " escape in string literal");
      i += digits;
      auto cp = static_cast<char32_t>(std::strtoul(h.c_str(), nullptr, 16));
      if (cp > 0x10FFFF) fail_at(pos, "illegal Unicode character in string literal");
      text::append_utf8(out, cp);
    };
    switch (c) {
      case '\n':
        break;
      case '\\':
      case '\'':
      case '"':
        out += c;
        break;
      case 'a':
        out += '\a';
        break;
      case 'b':
        out += '\b';
        break;
      case 'f':
        out += '\f';
        break;
      case 'n':
        out += '\n';
        break;
      case 'r':
        out += '\r';
        break;
      case 't':
        out += '\t';
        break;
      case 'v':
        out += '\v';
        break;
      case 'x':
        hex(2);
        break;
      case 'u':
        hex(4);
        break;
      case 'U':
        hex(8);
        break;
      default:
        if (c >= '0' && c <= '7') {
          char32_t cp = 0;
          size_t k = 0;
          for (; k < 3 && i < raw.size() && raw[i] >= '0' && raw[i] <= '7'; ++k, ++i)
            cp = cp * 8 + static_cast<char32_t>(raw[i] - '0');
          --i;
          text::append_utf8(out, cp);
        } else {
          out += '\\';
          out += c;
        }
    }
  }
  return out;
}

class Lexer {
 public:
  explicit Lexer(std::string_view src) : s_(normalize(src)) {
    line_starts_.push_back(0);
    for (size_t i = 0; i < s_.size(); ++i)
      if (s_[i] == '\n') line_starts_.push_back(i + 1);
  }

  std::vector<Token> run() {
    while (p_ < s_.size()) {
      size_t tag = find_tag(p_);
      if (tag == npos) {
        emit(Tok::Data, s_.substr(p_), p_);
        break;
      }
      char kind = s_[tag + 1];
      size_t body = tag + 2;
      char sign = body < s_.size() && (s_[body] == '-' || s_[body] == '+') ? s_[body] : 0;
      if (sign) ++body;
      size_t raw_body = kind == '%' ? match_raw_begin(body) : npos;
      emit_text(s_.substr(p_, tag - p_), sign, kind != '{', p_);
      if (raw_body != npos)
        lex_raw(tag, raw_body);
      else if (kind == '#')
        lex_comment(tag, body);
      else
        lex_tag(kind == '%', tag, body);
    }
    emit(Tok::Eof, "", s_.size());
    return std::move(out_);
  }

 private:
  Pos pos(size_t offset) const {
    size_t line =
        std::upper_bound(line_starts_.begin(), line_starts_.end(), offset) - line_starts_.begin();
    size_t start = line_starts_[line - 1];
    return {static_cast<int>(line),
            static_cast<int>(text::length(std::string_view(s_).substr(start, offset - start))) + 1};
  }

  Token& emit(Tok type, std::string text, size_t at) {
    out_.push_back(Token{type, std::move(text), 0, 0, pos(at)});
    return out_.back();
  }

  size_t find_tag(size_t from) const {
    for (size_t i = s_.find('{', from); i != npos && i + 1 < s_.size(); i = s_.find('{', i + 1))
      if (s_[i + 1] == '{' || s_[i + 1] == '%' || s_[i + 1] == '#') return i;
    return npos;
  }

  size_t skip_ws(size_t i) const {
    size_t len;
    while (i < s_.size() && space_at(s_, i, len)) i += len;
    return i;
  }

  bool at(size_t i, std::string_view lit) const { return s_.compare(i, lit.size(), lit) == 0; }

  // Text before a tag: "-" strips all whitespace before it; otherwise lstrip_blocks removes the
  // indentation of a block or comment tag that starts its line.
  void emit_text(std::string text, char sign, bool lstrip, size_t at) {
    if (sign == '-') {
      text = text::strip(text, std::nullopt, false, true);
    } else if (sign != '+' && lstrip) {
      size_t line = text.rfind('\n');
      line = line == npos ? 0 : line + 1;
      if ((line > 0 || line_starting_) && line < text.size() &&
          text::strip(std::string_view(text).substr(line), std::nullopt, true, false).empty())
        text.resize(line);
    }
    if (!text.empty()) emit(Tok::Data, std::move(text), at);
  }

  // Position after "{% raw %}" when the block tag at `body` is one, else npos.
  size_t match_raw_begin(size_t body) const {
    size_t i = skip_ws(body);
    if (!at(i, "raw")) return npos;
    i = skip_ws(i + 3);
    if (at(i, "-%}")) return skip_ws(i + 3);
    return at(i, "%}") ? i + 2 : npos;
  }

  void finish(size_t end) {
    line_starting_ = end > 0 && s_[end - 1] == '\n';
    p_ = end;
  }

  void lex_raw(size_t tag, size_t body) {
    line_starting_ = s_[body - 1] == '\n';
    for (size_t i = s_.find("{%", body); i != npos; i = s_.find("{%", i + 1)) {
      size_t j = i + 2;
      char sign = j < s_.size() && (s_[j] == '-' || s_[j] == '+') ? s_[j] : 0;
      if (sign) ++j;
      j = skip_ws(j);
      if (!at(j, "endraw")) continue;
      j = skip_ws(j + 6);
      size_t end;
      if (at(j, "+%}"))
        end = j + 3;
      else if (at(j, "-%}"))
        end = skip_ws(j + 3);
      else if (at(j, "%}"))
        end = j + 2 + (at(j + 2, "\n") ? 1 : 0);
      else
        continue;
      emit_text(s_.substr(body, i - body), sign, true, body);
      return finish(end);
    }
    fail_at(pos(tag), "missing end of raw directive");
  }

  void lex_comment(size_t tag, size_t body) {
    size_t j = s_.find("#}", body);
    if (j == npos) fail_at(pos(tag), "missing end of comment tag");
    size_t end = j + 2;
    if (j > body && s_[j - 1] == '-')
      end = skip_ws(end);
    else if (!(j > body && s_[j - 1] == '+') && at(end, "\n"))
      ++end;
    finish(end);
  }

  void lex_tag(bool block, size_t tag, size_t i) {
    emit(block ? Tok::BlockBegin : Tok::VarBegin, "", tag);
    std::string balance;  // closing brackets still expected; tag ends only when it is empty
    while (true) {
      i = skip_ws(i);
      if (i >= s_.size())
        fail_at(pos(i), std::string("unexpected end of template, expected '") +
                            (block ? "%}" : "}}") + "'");
      if (balance.empty()) {
        size_t end = npos;
        if (block && at(i, "+%}"))
          end = i + 3;
        else if (at(i, block ? "-%}" : "-}}"))
          end = skip_ws(i + 3);
        else if (at(i, block ? "%}" : "}}"))
          end = i + 2 + (block && at(i + 2, "\n") ? 1 : 0);
        if (end != npos) {
          emit(block ? Tok::BlockEnd : Tok::VarEnd, "", i);
          return finish(end);
        }
      }
      i = lex_token(i, balance);
    }
  }

  // Digits with single underscores between them, as in Python literals; npos if none.
  size_t digits(size_t i) const {
    if (i >= s_.size() || !is_digit(s_[i])) return npos;
    while (i < s_.size() && is_digit(s_[i])) {
      ++i;
      if (i + 1 < s_.size() && s_[i] == '_' && is_digit(s_[i + 1])) ++i;
    }
    return i;
  }

  std::optional<size_t> lex_float(size_t i) const {
    if (i > 0 && s_[i - 1] == '.') return std::nullopt;
    size_t e = digits(i), frac = npos, exp = npos;
    if (at(e, ".")) frac = digits(e + 1);
    size_t x = frac == npos ? e : frac;
    if (x < s_.size() && (s_[x] == 'e' || s_[x] == 'E')) {
      size_t k = x + 1;
      if (k < s_.size() && (s_[k] == '+' || s_[k] == '-')) ++k;
      exp = digits(k);
    }
    if (exp != npos) return exp;
    if (frac != npos) return frac;
    return std::nullopt;
  }

  size_t lex_number(size_t i) {
    size_t start = i;
    if (auto end = lex_float(i)) {
      std::string lit;
      for (size_t k = start; k < *end; ++k)
        if (s_[k] != '_') lit += s_[k];
      emit(Tok::Float, lit, start).float_value = std::strtod(lit.c_str(), nullptr);
      return *end;
    }
    int base = 10;
    if (s_[i] == '0' && i + 1 < s_.size() && std::string_view("xXoObB").find(s_[i + 1]) != npos) {
      char b = static_cast<char>(s_[i + 1] | 0x20);
      base = b == 'x' ? 16 : b == 'o' ? 8 : 2;
      i += 2;
    }
    std::string lit;
    auto ok = [&](char c) {
      return base == 16 ? is_hex(c) : c >= '0' && c < static_cast<char>('0' + std::min(base, 10));
    };
    // A decimal literal starting with 0 may only continue with zeros, as in Python.
    bool zero = base == 10 && s_[i] == '0';
    while (i < s_.size()) {
      if (s_[i] == '_' && i + 1 < s_.size() && ok(s_[i + 1])) ++i;
      if (!ok(s_[i]) || (zero && s_[i] != '0')) break;
      lit += s_[i++];
    }
    if (lit.empty()) fail_at(pos(start), "invalid integer literal");
    errno = 0;
    auto v = std::strtoll(lit.c_str(), nullptr, base);
    if (errno == ERANGE) fail_at(pos(start), "integer literal too large");
    emit(Tok::Int, s_.substr(start, i - start), start).int_value = v;
    return i;
  }

  size_t lex_token(size_t i, std::string& balance) {
    char c = s_[i];
    if (is_digit(c)) return lex_number(i);
    if (is_name_start(c)) {
      size_t j = i;
      while (j < s_.size() && is_name_char(s_[j])) ++j;
      emit(Tok::Name, s_.substr(i, j - i), i);
      return j;
    }
    if (c == '\'' || c == '"') {
      size_t j = i + 1;
      while (j < s_.size() && s_[j] != c) j += s_[j] == '\\' ? 2 : 1;
      if (j >= s_.size()) fail_at(pos(i), std::string("unexpected char '") + c + "'");
      emit(Tok::String, unescape(std::string_view(s_).substr(i + 1, j - i - 1), pos(i)), i);
      return j + 1;
    }
    for (std::string_view op : {"//", "**", "==", "!=", ">=", "<="})
      if (at(i, op)) {
        emit(Tok::Op, std::string(op), i);
        return i + 2;
      }
    if (std::string_view("+-/*%~[](){}><=.:|,;").find(c) == npos)
      fail_at(pos(i), std::string("unexpected char '") + c + "'");
    if (c == '(' || c == '[' || c == '{') {
      balance.push_back(c == '(' ? ')' : c == '[' ? ']' : '}');
    } else if (c == ')' || c == ']' || c == '}') {
      if (balance.empty()) fail_at(pos(i), std::string("unexpected '") + c + "'");
      if (balance.back() != c)
        fail_at(pos(i), std::string("unexpected '") + c + "', expected '" + balance.back() + "'");
      balance.pop_back();
    }
    emit(Tok::Op, std::string(1, c), i);
    return i + 1;
  }

  std::string s_;
  std::vector<size_t> line_starts_;
  size_t p_ = 0;
  bool line_starting_ = true;
  std::vector<Token> out_;
};

}  // namespace

std::vector<Token> tokenize(std::string_view source) { return Lexer(source).run(); }

}  // namespace purelm::jinja
