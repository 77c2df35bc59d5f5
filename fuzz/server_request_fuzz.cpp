// The server's request bodies, parsed and validated as /v1/chat/completions, /v1/completions and
// /apply-template do before they render or tokenize anything. Every body must end in a 400
// ApiError (the OpenAI error the client gets) or a request that keeps the promises of request.h.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "purelm/server/api_error.h"
#include "purelm/server/request.h"

namespace {

using namespace purelm::server;

template <class F>
void expect_400(F&& f) {
  try {
    f();
  } catch (const ApiError& e) {
    if (e.status != 400) std::abort();
  }
}

void check_generation(const GenerationRequest& r) {
  if (r.max_tokens && *r.max_tokens < 1) std::abort();
  if (r.top_logprobs < 0 || r.top_logprobs > 20) std::abort();
  if (r.include_usage && !r.stream) std::abort();
  for (const std::string& s : r.stop)
    if (s.empty()) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string body(reinterpret_cast<const char*>(data), size);
  json j;
  try {
    j = parse_body(body);
  } catch (const ApiError& e) {
    if (e.status != 400) std::abort();
    return 0;
  }
  expect_400([&] {
    ChatRequest r = parse_chat(j);
    check_generation(r);
    if (!r.messages.is_array() || r.messages.empty() || !r.template_kwargs.is_object())
      std::abort();
    for (const json& m : r.messages)
      if (!m.at("role").is_string() || !m.at("content").is_string()) std::abort();
    // The chat template's context is built from these, and error messages quote them.
    return r.messages.dump().size() + r.template_kwargs.dump().size();
  });
  expect_400([&] {
    CompletionRequest r = parse_completion(j);
    check_generation(r);
    if (r.prompt_ids)
      for (int32_t id : *r.prompt_ids)
        if (id < 0) std::abort();
    return r.prompt.size();
  });
  return 0;
}
