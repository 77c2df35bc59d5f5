// Response bodies and server-sent-event chunks of the OpenAI endpoints.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "purelm/serve/engine.h"
#include "purelm/tokenizer/tokenizer.h"

namespace purelm::server {

using json = nlohmann::ordered_json;

// What every response and chunk of one request repeats.
struct ResponseHead {
  std::string id;  // chatcmpl-N or cmpl-N
  int64_t created = 0;
  std::string model;
};

json usage_json(const Usage& u);

// /v1/chat/completions: `logprobs` is null or chat_logprobs(...).
json chat_response(const ResponseHead& h, const std::string& text, const std::string& finish,
                   const Usage& u, json logprobs);
// A chat.completion.chunk; `finish` "" is null. With include_usage every chunk has "usage": null.
json chat_chunk(const ResponseHead& h, json delta, const std::string& finish, json logprobs,
                bool include_usage);
// A token's text is what it adds after the token before it (`prev`, the prompt's last for the
// first): decoded alone, a SentencePiece token would lose its leading space.
json chat_logprobs(const Tokenizer& tok, int32_t prev, const std::vector<GeneratedToken>& tokens);

// /v1/completions (text_completion), chunks included; `text_offset` is where the tokens' text
// starts in the completion.
json completion_response(const ResponseHead& h, const std::string& text, const std::string& finish,
                         const Usage& u, json logprobs);
json completion_chunk(const ResponseHead& h, const std::string& text, const std::string& finish,
                      json logprobs, bool include_usage);
json completion_logprobs(const Tokenizer& tok, int32_t prev,
                         const std::vector<GeneratedToken>& tokens, int64_t text_offset);
// The last chunk of a stream with include_usage: no choices, the usage.
json usage_chunk(const ResponseHead& h, const char* object, const Usage& u);

// One server-sent event carrying `j` ("data: {...}\n\n"), invalid UTF-8 replaced.
std::string sse(const json& j);
// JSON text of `j`, invalid UTF-8 replaced by U+FFFD.
std::string dump(const json& j);

}  // namespace purelm::server
