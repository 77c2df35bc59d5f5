#include "purelm/hub/retry.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>

namespace purelm::hub {

double retry_delay(const RetryPolicy& policy, int attempt, const std::string& retry_after) {
  double wait = policy.base_seconds * std::pow(2.0, attempt);
  if (!retry_after.empty()) {
    char* end = nullptr;
    const double s = std::strtod(retry_after.c_str(), &end);
    if (end != retry_after.c_str() && *end == '\0' && s >= 0) wait = s;
  }
  return std::min(wait, policy.max_seconds);
}

bool is_transient_status(long status) {
  return status == 429 || status == 500 || status == 502 || status == 503 || status == 504;
}

}  // namespace purelm::hub
