#include "purelm/sample/text_stream.h"

#include <algorithm>

namespace purelm {

TextStream::TextStream(const Tokenizer& tok, std::vector<std::string> stop)
    : decoder_(tok, /*skip_special=*/true), stop_(std::move(stop)) {
  std::erase(stop_, std::string());
}

std::string TextStream::push(int32_t id) {
  if (stopped_) return "";
  pending_ += decoder_.step(id);
  // The earliest match of any stop string wins, whatever their order in the list.
  size_t at = std::string::npos;
  for (const std::string& s : stop_) at = std::min(at, pending_.find(s));
  if (at != std::string::npos) {
    stopped_ = true;
    std::string out = pending_.substr(0, at);
    pending_.clear();
    return out;
  }
  // Hold back the longest tail that is a prefix of some stop string.
  size_t keep = 0;
  for (const std::string& s : stop_)
    for (size_t n = std::min(s.size() - 1, pending_.size()); n > keep; --n)
      if (pending_.compare(pending_.size() - n, n, s, 0, n) == 0) {
        keep = n;
        break;
      }
  std::string out = pending_.substr(0, pending_.size() - keep);
  pending_.erase(0, pending_.size() - keep);
  return out;
}

std::string TextStream::finish() {
  if (stopped_) return "";
  std::string out = pending_ + decoder_.flush();
  pending_.clear();
  for (const std::string& s : stop_) {
    size_t at = out.find(s);
    if (at != std::string::npos) out.resize(at);
  }
  return out;
}

}  // namespace purelm
