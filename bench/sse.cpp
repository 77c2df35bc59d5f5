#include "bench/sse.h"

#include <utility>

namespace purelm::bench {

bool SseReader::feed(std::string_view bytes, const std::function<bool(const std::string&)>& on) {
  for (char c : bytes) {
    const bool lf_of_crlf = after_cr_ && c == '\n';
    after_cr_ = c == '\r';
    if (lf_of_crlf) continue;
    if (c == '\r' || c == '\n') {
      if (!end_line(on)) return false;
    } else {
      line_ += c;
    }
  }
  return true;
}

bool SseReader::end_line(const std::function<bool(const std::string&)>& on) {
  if (line_.empty()) {  // the end of an event
    if (!has_data_) return true;
    has_data_ = false;
    return on(std::exchange(data_, {}));
  }
  const size_t colon = line_.find(':');
  // Comments (':' first) and the fields other than data (event, id, retry) tell a client nothing.
  if (colon != 0 && line_.compare(0, colon, "data") == 0) {
    std::string_view value =
        colon == std::string::npos ? "" : std::string_view(line_).substr(colon + 1);
    if (!value.empty() && value[0] == ' ') value.remove_prefix(1);
    if (has_data_) data_ += '\n';
    data_ += value;
    has_data_ = true;
  }
  line_.clear();
  return true;
}

}  // namespace purelm::bench
