// Request bodies of the OpenAI endpoints, validated into plain structs. Every problem is an
// ApiError (400) naming the field; fields this server does not know are ignored, as clients send
// many.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

namespace purelm::server {

using json = nlohmann::ordered_json;

// The sampling fields a client gave; absent ones take the checkpoint's defaults
// (generation_config.json), as `purelm generate` does.
struct SamplingRequest {
  std::optional<float> temperature, top_p, min_p, repetition_penalty;
  std::optional<int64_t> top_k;
  std::optional<uint64_t> seed;
  float presence_penalty = 0, frequency_penalty = 0;
};

struct GenerationRequest {
  std::optional<int64_t> max_tokens;  // absent: until the end of the context
  SamplingRequest sampling;
  std::vector<std::string> stop;
  bool stream = false, include_usage = false;
  bool logprobs = false;
  int top_logprobs = 0;
};

struct ChatRequest : GenerationRequest {
  json messages;         // each with "content" made a string; other keys kept for the template
  json template_kwargs;  // an object: chat_template_kwargs, and tools when given
};

struct CompletionRequest : GenerationRequest {
  std::string prompt;
  std::optional<std::vector<int32_t>> prompt_ids;  // the prompt given as token ids
};

// The body as a JSON object: invalid UTF-8, malformed JSON and non-objects are ApiErrors.
json parse_body(const std::string& body);
// `messages` of a chat request (also /apply-template's).
json parse_messages(const json& body);
ChatRequest parse_chat(const json& body);
CompletionRequest parse_completion(const json& body);

}  // namespace purelm::server
