// UTF-8 and Unicode helpers shared by the tokenizer stages (internal header).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>

namespace purelm::tok {

// A non-owning reference to a callable: pipeline stages hand pieces to the next stage through it
// without allocating (std::function may allocate and copies its target).
template <class Sig>
class FunctionRef;
template <class R, class... A>
class FunctionRef<R(A...)> {
 public:
  template <class F, class = std::enable_if_t<!std::is_same_v<std::decay_t<F>, FunctionRef>>>
  FunctionRef(F&& f)  // NOLINT: implicit, like a function pointer
      : obj_(const_cast<void*>(static_cast<const void*>(&f))), call_([](void* o, A... a) -> R {
          return (*static_cast<std::remove_reference_t<F>*>(o))(std::forward<A>(a)...);
        }) {}
  R operator()(A... a) const { return call_(obj_, std::forward<A>(a)...); }

 private:
  void* obj_;
  R (*call_)(void*, A...);
};

// Bytes in the UTF-8 sequence that starts with `lead` (1 for a stray continuation byte).
inline size_t utf8_len(unsigned char lead) {
  return lead < 0xC0 ? 1 : lead < 0xE0 ? 2 : lead < 0xF0 ? 3 : 4;
}

// Decodes the code point at s[i] and advances i. `s` must be valid UTF-8.
char32_t next_codepoint(std::string_view s, size_t& i);
void append_utf8(std::string& out, char32_t cp);

bool is_valid_utf8(std::string_view s);
// `s` with every maximal invalid subsequence replaced by U+FFFD: the rule of Rust's
// String::from_utf8_lossy and Python's errors="replace", so results match HuggingFace's.
std::string to_valid_utf8(std::string_view s);

// Character classes with Rust's meaning (char::is_whitespace, regex \w, char::is_numeric,
// char::is_ascii_punctuation || is_punctuation), as HuggingFace tokenizers uses them.
bool is_whitespace(char32_t c);
bool is_word_char(char32_t c);
bool is_numeric(char32_t c);
bool is_punctuation(char32_t c);

// GPT-2's reversible byte <-> printable-character map (ByteLevel pre-tokenizer and decoder).
std::string_view byte_to_unicode(unsigned char b);  // UTF-8 of the character standing for b
int unicode_to_byte(char32_t c);                    // -1 when c stands for no byte
// Replaces each byte of `s` by its ByteLevel character.
void append_byte_level(std::string& out, std::string_view s);

}  // namespace purelm::tok
