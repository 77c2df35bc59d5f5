#include "purelm/server/metrics.h"

#include <cstdio>

namespace purelm::server {

namespace {

std::string num(double x) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.17g", x);
  return buf;
}

void metric(std::string& out, const char* name, const char* type, const char* help,
            const std::string& value) {
  out += std::string("# HELP purelm_") + name + " " + help + "\n# TYPE purelm_" + name + " " +
         type + "\npurelm_" + name + " " + value + "\n";
}

void histogram(std::string& out, const char* name, const char* help, const Histogram& h) {
  out += std::string("# HELP purelm_") + name + " " + help + "\n# TYPE purelm_" + name +
         " histogram\n";
  for (size_t i = 0; i < h.counts.size(); ++i)
    out += std::string("purelm_") + name + "_bucket{le=\"" +
           (i < h.bounds.size() ? num(h.bounds[i]) : "+Inf") + "\"} " +
           std::to_string(h.counts[i]) + "\n";
  out += std::string("purelm_") + name + "_sum " + num(h.sum) + "\n";
  out += std::string("purelm_") + name + "_count " + std::to_string(h.count) + "\n";
}

}  // namespace

void HttpCounters::count(int status) {
  std::lock_guard<std::mutex> lock(mu_);
  ++by_status_[status];
}

std::map<int, uint64_t> HttpCounters::snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  return by_status_;
}

std::string metrics_text(const EngineStats& s, const std::map<int, uint64_t>& http) {
  std::string out;
  metric(out, "requests_total", "counter", "Generation requests accepted.",
         std::to_string(s.requests_total));
  metric(out, "requests_finished_total", "counter", "Generation requests ended, for any reason.",
         std::to_string(s.requests_finished));
  metric(out, "requests_running", "gauge", "Generation requests in a slot.",
         std::to_string(s.requests_active));
  metric(out, "queue_length", "gauge", "Generation requests waiting for a slot.",
         std::to_string(s.queue_length));
  metric(out, "slots_busy", "gauge", "Slots running a request.", std::to_string(s.slots_busy));
  metric(out, "slots_total", "gauge", "Slots (--parallel).", std::to_string(s.slots_total));
  metric(out, "prompt_tokens_total", "counter", "Prompt tokens of started requests.",
         std::to_string(s.prompt_tokens));
  metric(out, "cached_prompt_tokens_total", "counter",
         "Prompt tokens reused from a slot's cache instead of computed.",
         std::to_string(s.cached_tokens));
  metric(out, "generated_tokens_total", "counter", "Tokens generated.",
         std::to_string(s.generated_tokens));
  histogram(out, "time_to_first_token_seconds", "Time from arrival to the first generated token.",
            s.time_to_first_token);
  histogram(out, "inter_token_latency_seconds", "Time between two tokens of one request.",
            s.token_latency);
  out +=
      "# HELP purelm_http_responses_total HTTP responses by status code.\n"
      "# TYPE purelm_http_responses_total counter\n";
  for (const auto& [code, n] : http)
    out += "purelm_http_responses_total{code=\"" + std::to_string(code) + "\"} " +
           std::to_string(n) + "\n";
  return out;
}

}  // namespace purelm::server
