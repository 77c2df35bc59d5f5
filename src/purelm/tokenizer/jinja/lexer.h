// Splits a template into tokens the way Jinja2's lexer does under transformers' settings
// (trim_blocks, lstrip_blocks, no trailing newline kept): template text, tag delimiters, and the
// names, literals and operators inside tags. Comments vanish; {% raw %} bodies become text
// (internal header).
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace purelm::jinja {

struct Pos {
  int line = 0, column = 0;  // 1-based; column counts code points
};

// Throws purelm::Error("chat template line L, column C: message").
[[noreturn]] void fail_at(Pos pos, const std::string& message);

enum class Tok { Data, VarBegin, VarEnd, BlockBegin, BlockEnd, Name, String, Int, Float, Op, Eof };

struct Token {
  Tok type;
  std::string text;  // Data: the text; Name; String: the decoded value; Op: the operator
  int64_t int_value = 0;
  double float_value = 0;
  Pos pos;
};

std::vector<Token> tokenize(std::string_view source);

}  // namespace purelm::jinja
