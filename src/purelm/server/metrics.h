// /metrics: the engine's counters and histograms and the HTTP responses by status, in Prometheus'
// text exposition format (version 0.0.4).
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "purelm/serve/engine.h"

namespace purelm::server {

// HTTP responses by status code; thread-safe.
class HttpCounters {
 public:
  void count(int status);
  std::map<int, uint64_t> snapshot() const;

 private:
  mutable std::mutex mu_;
  std::map<int, uint64_t> by_status_;
};

std::string metrics_text(const EngineStats& s, const std::map<int, uint64_t>& http);

}  // namespace purelm::server
