// When to try a request again, and after how long.
#pragma once

#include <string>

namespace purelm::hub {

struct RetryPolicy {
  int max_retries = 5;      // after the first attempt
  double base_seconds = 1;  // the first wait; each next one doubles
  double max_seconds = 30;  // no wait is longer, not even one a server asks for
};

// Seconds to wait before retry number `attempt` (0 for the first): the server's Retry-After (in
// seconds; empty or an HTTP date: not used) when it gives one, else base * 2^attempt.
double retry_delay(const RetryPolicy& policy, int attempt, const std::string& retry_after);

// 429 (too many requests) and the server errors a later attempt may not meet.
bool is_transient_status(long status);

}  // namespace purelm::hub
