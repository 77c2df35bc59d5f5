#include "bench/serve_load.h"

#include <httplib.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <mutex>
#include <random>
#include <thread>

#include "bench/sse.h"
#include "purelm/core/error.h"

namespace purelm::bench {

namespace {

using Clock = std::chrono::steady_clock;
using json = nlohmann::ordered_json;

struct Sample {
  bool ok = false;
  int64_t output_tokens = 0;
  int64_t usage_tokens = -1;  // the final chunk's usage.completion_tokens, when sent
  std::string error;          // why it failed, if it did
  double ttft = 0, tpot = 0;
  std::vector<double> gaps;  // between two chunks carrying tokens
};

double seconds(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double>(b - a).count();
}

json percentiles_ms(std::vector<double> xs) {
  if (xs.empty()) return nullptr;
  std::sort(xs.begin(), xs.end());
  auto at = [&](double p) { return 1e3 * xs[std::min(xs.size() - 1, size_t(p * xs.size()))]; };
  double sum = 0;
  for (double x : xs) sum += x;
  return {{"mean", 1e3 * sum / double(xs.size())},
          {"p50", at(0.5)},
          {"p90", at(0.9)},
          {"p99", at(0.99)}};
}

httplib::Headers auth(const ServeLoadOptions& o) {
  if (o.api_key.empty()) return {};
  return {{"Authorization", "Bearer " + o.api_key}};
}

// One streamed request; every chunk carries the tokens since the last (logprobs count them).
Sample one(httplib::Client& c, const ServeLoadOptions& o, const std::vector<int32_t>& prompt,
           int64_t max_tokens) {
  json body = {{"prompt", prompt},   {"max_tokens", max_tokens},
               {"temperature", 1.0}, {"stream", true},
               {"logprobs", 0},      {"stream_options", {{"include_usage", true}}}};
  httplib::Request req;
  req.method = "POST";
  req.path = "/v1/completions";
  req.headers = auth(o);
  req.set_header("Content-Type", "application/json");
  req.body = body.dump();
  Sample s;
  const Clock::time_point start = Clock::now();
  Clock::time_point last = start, first = start;
  bool done = false;
  SseReader events;
  auto on_event = [&](const std::string& data) {
    if (data == "[DONE]") {
      done = true;
      return true;
    }
    json j = json::parse(data, nullptr, false);
    if (!j.is_object()) {
      s.error = "an event that is not JSON: " + data.substr(0, 120);
      return false;
    }
    if (j.contains("error")) {
      s.error = "the server's error: " + j["error"].dump();
      return false;
    }
    if (j.contains("usage") && j["usage"].is_object())
      s.usage_tokens = j["usage"].value("completion_tokens", int64_t(-1));
    if (!j["choices"].is_array() || j["choices"].empty()) return true;
    const json& choice = j["choices"][0];
    // Servers that leave logprobs out (llama-server with logprobs 0) stream a token per chunk.
    const size_t k = choice["logprobs"].is_object()     ? choice["logprobs"]["tokens"].size()
                     : choice.value("text", "").empty() ? 0
                                                        : 1;
    if (k == 0) return true;
    const Clock::time_point now = Clock::now();
    if (s.output_tokens == 0) {
      first = now;
      s.ttft = seconds(start, now);
    } else {
      s.gaps.push_back(seconds(last, now) / double(k));
    }
    last = now;
    s.output_tokens += int64_t(k);
    return true;
  };
  req.content_receiver = [&](const char* data, size_t n, uint64_t, uint64_t) {
    return events.feed({data, n}, on_event);
  };
  httplib::Response res;
  httplib::Error err;
  const bool sent = c.send(req, res, err);
  if (s.error.empty()) {
    if (!sent)
      s.error = "the request failed: " + httplib::to_string(err);
    else if (res.status != 200)
      s.error = "HTTP " + std::to_string(res.status) + ": " + res.body.substr(0, 200);
    else if (!done)
      s.error = "the stream ended without data: [DONE]";
    else if (s.output_tokens == 0)
      s.error = "no tokens";
  }
  s.ok = s.error.empty();
  if (s.output_tokens > 1) s.tpot = seconds(first, last) / double(s.output_tokens - 1);
  if (s.usage_tokens > 0) s.output_tokens = s.usage_tokens;
  return s;
}

}  // namespace

json serve_load(const ServeLoadOptions& o) {
  check(o.clients > 0 && o.requests > 0, "bench-serve: --clients and --requests must be positive");
  httplib::Client probe(o.host, o.port);
  auto models = probe.Get("/v1/models", auth(o));
  check(models && models->status == 200, "bench-serve: no purelm server answers on http://", o.host,
        ":", std::to_string(o.port),
        "/v1/models (start one with `purelm serve`, or any OpenAI-compatible server)");
  json m = json::parse(models->body)["data"][0];
  const int64_t vocab = m["meta"]["n_vocab"], ctx = m["meta"]["n_ctx"];

  // Every request's lengths and prompt drawn up front from one seeded generator.
  std::mt19937_64 rng(o.seed);
  auto around = [&](int64_t mean) {
    return std::uniform_int_distribution<int64_t>(std::max<int64_t>(1, mean / 2),
                                                  std::max<int64_t>(1, mean * 3 / 2))(rng);
  };
  std::vector<std::pair<std::vector<int32_t>, int64_t>> work;
  for (int64_t i = 0; i < o.requests; ++i) {
    int64_t p = std::min(around(o.prompt_tokens), ctx / 2);
    int64_t out = std::min(around(o.output_tokens), ctx - p);
    std::vector<int32_t> ids(static_cast<size_t>(p));
    for (int32_t& id : ids) id = int32_t(std::uniform_int_distribution<int64_t>(3, vocab - 1)(rng));
    work.emplace_back(std::move(ids), out);
  }

  std::atomic<int64_t> next{0};
  std::mutex mu;
  std::vector<Sample> samples;
  const Clock::time_point start = Clock::now();
  std::vector<std::thread> clients;
  for (int t = 0; t < o.clients; ++t)
    clients.emplace_back([&] {
      httplib::Client c(o.host, o.port);
      c.set_read_timeout(600);
      for (int64_t i; (i = next++) < o.requests;) {
        if (seconds(start, Clock::now()) > o.max_seconds) break;
        Sample s = one(c, o, work[size_t(i)].first, work[size_t(i)].second);
        std::lock_guard<std::mutex> lock(mu);
        samples.push_back(std::move(s));
      }
    });
  for (std::thread& t : clients) t.join();
  const double wall = seconds(start, Clock::now());

  int64_t ok = 0, tokens = 0;
  std::vector<double> ttft, tpot, itl;
  json errors = json::array();  // the first few distinct reasons
  for (const Sample& s : samples) {
    if (!s.ok) {
      if (errors.size() < 3 && std::find(errors.begin(), errors.end(), s.error) == errors.end())
        errors.push_back(s.error);
      continue;
    }
    ++ok;
    tokens += s.output_tokens;
    ttft.push_back(s.ttft);
    if (s.output_tokens > 1) tpot.push_back(s.tpot);
    itl.insert(itl.end(), s.gaps.begin(), s.gaps.end());
  }
  return {{"model", m["id"]},
          {"clients", o.clients},
          {"completed", ok},
          {"failed", int64_t(samples.size()) - ok},
          {"errors", errors},
          {"seconds", wall},
          {"requests_per_s", double(ok) / wall},
          {"output_tokens", tokens},
          {"output_tokens_per_s", double(tokens) / wall},
          {"ttft_ms", percentiles_ms(ttft)},
          {"itl_ms", percentiles_ms(itl)},
          {"tpot_ms", percentiles_ms(tpot)}};
}

std::string serve_load_table(const json& r) {
  char buf[1024];
  std::string out;
  std::snprintf(buf, sizeof buf,
                "model %s, %d clients: %lld requests completed, %lld failed in %.2f s\n"
                "requests/s %.2f, output tokens/s %.1f (%lld tokens)\n",
                r["model"].get<std::string>().c_str(), r["clients"].get<int>(),
                (long long)r["completed"].get<int64_t>(), (long long)r["failed"].get<int64_t>(),
                r["seconds"].get<double>(), r["requests_per_s"].get<double>(),
                r["output_tokens_per_s"].get<double>(),
                (long long)r["output_tokens"].get<int64_t>());
  out += buf;
  out += "                     mean      p50      p90      p99  (ms)\n";
  for (const char* k : {"ttft_ms", "itl_ms", "tpot_ms"}) {
    const json& p = r[k];
    if (p.is_null()) continue;
    std::snprintf(buf, sizeof buf, "%-16s %8.2f %8.2f %8.2f %8.2f\n",
                  k[0] == 't' && k[1] == 't' ? "time to first"
                  : k[0] == 'i'              ? "inter-token"
                                             : "per output token",
                  p["mean"].get<double>(), p["p50"].get<double>(), p["p90"].get<double>(),
                  p["p99"].get<double>());
    out += buf;
  }
  for (const json& e : r["errors"]) out += "failed: " + e.get<std::string>() + "\n";
  return out;
}

}  // namespace purelm::bench
