// `purelm bench-serve`: load on a running `purelm serve`, in the manner of vLLM's serving
// benchmark. N clients on their own connections send streamed /v1/completions requests, one after
// another, until the request budget or the time budget is spent; prompt and output lengths are
// drawn from a seeded distribution (uniform in [mean/2, 3 mean/2]), prompts are random token ids.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace purelm::bench {

struct ServeLoadOptions {
  std::string host = "127.0.0.1";
  int port = 8080;
  std::string api_key;
  int clients = 8;
  int64_t requests = 64;                             // in all
  double max_seconds = 300;                          // no request starts after this
  int64_t prompt_tokens = 128, output_tokens = 128;  // means
  uint64_t seed = 0;
};

// Figures of the run: requests (completed, failed), wall seconds, requests/s, output tokens/s,
// and p50/p90/p99 of time to first token, inter-token latency (gap between two streamed tokens)
// and time per output token (per request), in milliseconds.
nlohmann::ordered_json serve_load(const ServeLoadOptions& opt);
std::string serve_load_table(const nlohmann::ordered_json& r);

}  // namespace purelm::bench
