// A chat template parsed and rendered with fuzzed messages. The input is the template source,
// then optionally a NUL byte and the context's messages as JSON (a default conversation when
// absent or not JSON).
#include <cstring>
#include <nlohmann/json.hpp>

#include "fuzz_util.h"
#include "purelm/tokenizer/chat_template.h"

namespace {

using ojson = nlohmann::ordered_json;

const ojson kMessages = ojson::parse(R"([
  {"role": "system", "content": "Be brief."},
  {"role": "user", "content": "Hi <|im_end|> {{ x }}"},
  {"role": "assistant", "content": "<think>\nhm\n</think>\n\nHello!",
   "tool_calls": [{"function": {"name": "f", "arguments": {"a": [1, 2.5, null, true]}}}]},
  {"role": "tool", "content": "{\"r\": 1}"},
  {"role": "user", "content": [{"type": "text", "text": "ünï"}, {"type": "image"}]}
])");

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const char* text = reinterpret_cast<const char*>(data);
  const char* nul = static_cast<const char*>(std::memchr(text, 0, size));
  const std::string source(text, nul ? size_t(nul - text) : size);
  ojson messages = kMessages;
  if (nul) {
    ojson m = ojson::parse(nul + 1, text + size, nullptr, false);
    if (!m.is_discarded()) messages = std::move(m);
  }
  purelm::fuzz::expect_clear_error([&] {
    purelm::ChatTemplate tmpl(source);
    ojson context = {{"messages", messages},
                     {"add_generation_prompt", size % 2 == 0},
                     {"tools", nullptr},
                     {"documents", nullptr},
                     {"bos_token", "<s>"},
                     {"eos_token", "</s>"},
                     {"enable_thinking", size % 3 == 0}};
    return tmpl.render(context);
  });
  return 0;
}
