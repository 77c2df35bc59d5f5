// Chat templates: every case of ../shared/tokenizers/*/chat_goldens.jsonl (rendered by Jinja2 as
// transformers does) must come out byte for byte; template errors name their line and column.
#include "purelm/tokenizer/chat_template.h"

#include <fstream>
#include <nlohmann/json.hpp>

#include "purelm/core/error.h"
#include "purelm/io/text_file.h"
#include "purelm/tokenizer/tokenizer.h"
#include "testing.h"

namespace purelm {
namespace {

using ordered_json = nlohmann::ordered_json;

// The variables transformers' apply_chat_template passes: messages, tools, documents,
// add_generation_prompt, the special tokens map and the extra keyword arguments.
ordered_json context_of(const ordered_json& c) {
  ordered_json ctx = {{"messages", c["messages"]},
                      {"tools", nullptr},
                      {"documents", nullptr},
                      {"add_generation_prompt", c["add_generation_prompt"]}};
  for (const auto& [k, v] : c["special_tokens"].items()) ctx[k] = v;
  for (const auto& [k, v] : c["kwargs"].items()) ctx[k] = v;
  return ctx;
}

class Goldens : public ::testing::TestWithParam<std::string> {};

TEST_P(Goldens, RenderByteForByte) {
  const std::string dir = testing::shared("tokenizers/" + GetParam());
  // llama-3.2 ships only its chat_template.jinja; the others are whole tokenizer folders.
  std::string source = std::filesystem::exists(dir + "/tokenizer.json")
                           ? Tokenizer::load(dir).chat_template()
                           : read_text_file(dir + "/chat_template.jinja");
  ASSERT_FALSE(source.empty());
  ChatTemplate tmpl(source);
  std::ifstream in(dir + "/chat_goldens.jsonl");
  ASSERT_TRUE(in.good());
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    ordered_json c = ordered_json::parse(line);
    EXPECT_EQ(tmpl.render(context_of(c)), c["rendered"].get<std::string>()) << "case " << n;
    ++n;
  }
  EXPECT_GE(n, 7);
}

INSTANTIATE_TEST_SUITE_P(Tokenizers, Goldens,
                         ::testing::Values("qwen3", "llama3", "llama3/llama-3.2", "olmo2"),
                         [](const auto& info) {
                           std::string s = info.param;
                           for (char& ch : s) {
                             if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
                           }
                           return s;
                         });

std::string error_of(const std::string& source, const ordered_json& ctx = ordered_json::object()) {
  try {
    ChatTemplate(source).render(ctx);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(ChatTemplate, SyntaxErrorsNameLineAndColumn) {
  std::string e = error_of("hello\n{% for m in messages %}\n{{ m.content }\n{% endfor %}");
  EXPECT_NE(e.find("line 3"), std::string::npos) << e;
  EXPECT_NE(e.find("column"), std::string::npos) << e;
  EXPECT_NE(error_of("{% if x %}never closed"), "");
  EXPECT_NE(error_of("{{ 1 + }}"), "");
}

TEST(ChatTemplate, RaiseExceptionReportsTheMessage) {
  std::string e = error_of("\n  {{ raise_exception('roles must alternate') }}");
  EXPECT_NE(e.find("roles must alternate"), std::string::npos) << e;
  EXPECT_NE(e.find("line 2"), std::string::npos) << e;
}

TEST(ChatTemplate, LanguageSubset) {
  auto render = [](const std::string& s, const ordered_json& ctx = ordered_json::object()) {
    return ChatTemplate(s).render(ctx);
  };
  EXPECT_EQ(render("{% set ns = namespace(n=0) %}{% for x in xs %}{% set ns.n = ns.n + x %}"
                   "{% endfor %}{{ ns.n }}",
                   {{"xs", {1, 2, 3}}}),
            "6");
  EXPECT_EQ(render("{% macro twice(s) %}{{ s }}{{ s }}{% endmacro %}{{ twice('ab') }}"), "abab");
  EXPECT_EQ(render("{{ 'Hello'[1:3] }}|{{ xs[::-1] | join(',') }}|{{ xs | length }}",
                   {{"xs", {1, 2, 3}}}),
            "el|3,2,1|3");
  EXPECT_EQ(render("{{ '  a b  '.strip().upper() }}|{{ 'x.y'.split('.')[1] }}|"
                   "{{ 'abc'.startswith('ab') }}"),
            "A B|y|True");
  EXPECT_EQ(render("{% for x in xs %}{{ loop.index }}{% if not loop.last %},{% endif %}"
                   "{% endfor %}",
                   {{"xs", {7, 8, 9}}}),
            "1,2,3");
  EXPECT_EQ(render("{{ m | tojson }}", {{"m", {{"k", "é"}}}}), "{\"k\": \"é\"}");
  EXPECT_EQ(render("{{ x is defined }}{{ y is none }}{{ 'a' ~ 1 }}", {{"y", nullptr}}),
            "FalseTrue"
            "a1");
}

}  // namespace
}  // namespace purelm
