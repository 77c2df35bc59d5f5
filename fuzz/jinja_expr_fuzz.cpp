// The Jinja expression language alone: the input is rendered as {{ input }} with a few variables
// of every kind in scope.
#include <nlohmann/json.hpp>

#include "fuzz_util.h"
#include "purelm/tokenizer/chat_template.h"

namespace {

const nlohmann::ordered_json kContext = nlohmann::ordered_json::parse(R"({
  "s": "Hello, wörld", "n": 42, "f": -2.5, "b": true, "z": null,
  "l": [1, "two", [3], {"four": 4}], "d": {"k": "v", "n": [1, 2]},
  "messages": [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "yo"}]
})");

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string source = "{{ " + std::string(reinterpret_cast<const char*>(data), size) + " }}";
  purelm::fuzz::expect_clear_error([&] { return purelm::ChatTemplate(source).render(kContext); });
  return 0;
}
