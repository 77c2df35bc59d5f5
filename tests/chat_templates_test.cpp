// Chat templates of other popular families (Mistral, Gemma, Phi, DeepSeek, SmolLM, and Hermes 3's
// tool use; sources in tests/data/chat_templates/SOURCES.md) against renders made by real Jinja2
// as transformers sets it up (scripts/chat_template_cases.py): every conversation must come out
// byte for byte, and where Jinja2 fails (roles that do not alternate, ...) purelm must fail too,
// with the template's own message when it raises one.
#include <nlohmann/json.hpp>

#include "purelm/core/error.h"
#include "purelm/io/text_file.h"
#include "purelm/tokenizer/chat_template.h"
#include "testing.h"

namespace purelm {
namespace {

using ordered_json = nlohmann::ordered_json;

const std::string kDir = testing::repo("tests/data/chat_templates/");

class Family : public ::testing::TestWithParam<std::string> {};

TEST_P(Family, RendersAsJinja2) {
  ChatTemplate tmpl(read_text_file(kDir + GetParam()));
  const ordered_json doc = ordered_json::parse(read_text_file(kDir + "renders.json"));
  int n = 0;
  for (const auto& r : doc["renders"]) {
    if (r["template"] != GetParam()) continue;
    ++n;
    SCOPED_TRACE(r["name"].get<std::string>());
    std::string out, error;
    try {
      out = tmpl.render(r["context"]);
    } catch (const Error& e) {
      error = e.what();
    }
    if (r.contains("output")) {
      EXPECT_EQ(error, "");
      EXPECT_EQ(out, r["output"].get<std::string>());
    } else {
      const std::string expected = r["error"];
      EXPECT_NE(error, "") << "Jinja2 fails with " << expected << " but purelm renders " << out;
      if (r["raised"].get<bool>()) {  // raise_exception's message reaches the user
        EXPECT_NE(error.find(expected.substr(expected.find(": ") + 2)), std::string::npos) << error;
      }
    }
  }
  EXPECT_GE(n, 12);
}

INSTANTIATE_TEST_SUITE_P(
    Templates, Family,
    ::testing::Values("mistral-7b-instruct-v0.3.jinja", "mistral-nemo-instruct-2407.jinja",
                      "gemma-2-2b-it.jinja", "gemma-3-4b-it.jinja", "phi-3.5-mini-instruct.jinja",
                      "deepseek-r1-distill.jinja", "deepseek-v3.1.jinja",
                      "smollm2-1.7b-instruct.jinja", "hermes-3-llama-3.1-8b-tool_use.jinja"),
    [](const auto& info) {
      std::string s = info.param.substr(0, info.param.size() - 6);
      for (char& ch : s)
        if (!isalnum(static_cast<unsigned char>(ch))) ch = '_';
      return s;
    });

}  // namespace
}  // namespace purelm
