// Python str semantics over UTF-8 strings: the string methods and formatting rules that Jinja2
// inherits from Python, so rendered prompts match transformers byte for byte (internal header).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "purelm/tokenizer/unicode.h"

namespace purelm::jinja::text {

// Code points of `s` (invalid bytes decode as U+FFFD) and back.
std::u32string decode(std::string_view s);
std::string encode(std::u32string_view s);
using tok::append_utf8;             // shared with the tokenizer (unicode.h)
size_t length(std::string_view s);  // len(s): code points

// Character classes with Python's meaning (str.isspace, str.isprintable, ...).
bool is_space(char32_t c);
bool is_printable(char32_t c);
bool is_alpha(char32_t c);
bool is_decimal(char32_t c);
bool is_numeric(char32_t c);
bool is_cased(char32_t c);
bool is_lower(char32_t c);
bool is_upper(char32_t c);

// str.islower (lower) / str.isupper: some cased character, and none of the other case.
bool is_cased_as(std::string_view s, bool lower);

std::string upper(std::string_view s);
std::string lower(std::string_view s);
std::string casefold(std::string_view s);    // str.casefold: full case folding (ß -> ss)
std::string capitalize(std::string_view s);  // str.capitalize
std::string title(std::string_view s);       // str.title (not Jinja's |title filter)
std::string swapcase(std::string_view s);

// str.strip / lstrip / rstrip: `chars` unset strips whitespace.
std::string strip(std::string_view s, const std::optional<std::string>& chars, bool left,
                  bool right);
// str.split / str.rsplit: `sep` unset splits on whitespace runs; maxsplit < 0 is unlimited.
std::vector<std::string> split(std::string_view s, const std::optional<std::string>& sep,
                               int64_t maxsplit, bool from_right);
std::vector<std::string> splitlines(std::string_view s, bool keepends);
std::string replace(std::string_view s, std::string_view old, std::string_view with, int64_t count);
// Counts non-overlapping occurrences, like str.count over the whole string.
int64_t count(std::string_view s, std::string_view sub);
// str.center / ljust / rjust with a one-character fill.
std::string pad(std::string_view s, int64_t width, char32_t fill, char align);

// Code point slicing with Python's clamping: s[start:stop:step].
std::string slice(std::string_view s, std::optional<int64_t> start, std::optional<int64_t> stop,
                  int64_t step);
// Python's slice.indices(): the concrete positions a slice visits in a sequence of length n.
std::vector<int64_t> slice_positions(int64_t n, std::optional<int64_t> start,
                                     std::optional<int64_t> stop, int64_t step);

// markupsafe.escape: & < > ' " as HTML entities.
std::string html_escape(std::string_view s);

std::string repr(std::string_view s);  // repr(str), with Python's quote choice and escapes
std::string float_repr(double x);      // repr(float): shortest round-trip digits
// A run of ASCII digits (a path's or a format field's index) as a number; none past int64's range.
std::optional<int64_t> digits_value(std::string_view digits);

}  // namespace purelm::jinja::text
