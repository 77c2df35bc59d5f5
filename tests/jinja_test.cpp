// The Jinja interpreter against real Jinja2: every case of tests/data/jinja_cases.json (made by
// scripts/jinja_cases.py with Jinja2 set up as transformers sets it up) covers filters, tests,
// methods, globals, statements and errors; purelm must render each byte for byte, or fail where
// Jinja2 fails (with the template's own message for raise_exception).
#include <nlohmann/json.hpp>

#include "purelm/core/error.h"
#include "purelm/io/text_file.h"
#include "purelm/tokenizer/chat_template.h"
#include "testing.h"

namespace purelm {
namespace {

using ordered_json = nlohmann::ordered_json;

TEST(Jinja, MatchesJinja2) {
  ordered_json cases =
      ordered_json::parse(read_text_file(testing::repo("tests/data/jinja_cases.json")))["cases"];
  ASSERT_GE(cases.size(), 200u);
  for (const auto& c : cases) {
    const std::string name = c["name"], tmpl = c["template"];
    SCOPED_TRACE(name + ": " + tmpl);
    std::string out, error;
    try {
      out = ChatTemplate(tmpl).render(c["context"]);
    } catch (const Error& e) {
      error = e.what();
    }
    if (c.contains("output")) {
      EXPECT_EQ(error, "");
      EXPECT_EQ(out, c["output"].get<std::string>());
    } else {
      const std::string expected = c["error"];
      EXPECT_NE(error, "") << "Jinja2 fails with " << expected << " but purelm renders " << out;
      if (c["raised"].get<bool>()) {  // raise_exception's message reaches the user
        std::string message = expected.substr(expected.find(": ") + 2);
        EXPECT_NE(error.find(message), std::string::npos) << error;
      }
    }
  }
}

// Integers are 64-bit, where Python's are unbounded: a result out of range is an error, never a
// wrapped-around number.
TEST(Jinja, IntegerOverflowIsAnError) {
  for (const char* expr :
       {"9223372036854775807 + 1", "-9223372036854775807 - 2", "4611686018427387904 * 2", "2 ** 63",
        "9223372036854775807 | round(-1)"}) {
    SCOPED_TRACE(expr);
    EXPECT_THROW(ChatTemplate(std::string("{{ ") + expr + " }}").render(ordered_json::object()),
                 Error);
  }
  EXPECT_EQ(ChatTemplate("{{ 9223372036854775807 | round(-2) }}").render(ordered_json::object()),
            "9223372036854775800");
}

}  // namespace
}  // namespace purelm
