#include "purelm/train/progress.h"

#include <unistd.h>

#include <algorithm>

namespace purelm {

std::string format_duration(double s) {
  char buf[32];
  if (s < 60)
    std::snprintf(buf, sizeof buf, "%.1fs", s);
  else if (s < 3600)
    std::snprintf(buf, sizeof buf, "%dm%02ds", int(s) / 60, int(s) % 60);
  else
    std::snprintf(buf, sizeof buf, "%dh%02dm", int(s) / 3600, int(s) % 3600 / 60);
  return buf;
}

Progress::Progress(int64_t first, int64_t total, std::FILE* out)
    : out_(out),
      tty_(::isatty(::fileno(out)) != 0),
      first_(first),
      total_(total),
      every_(std::max<int64_t>(1, total / 20)),
      start_(std::chrono::steady_clock::now()) {}

std::string Progress::bar(int64_t step) const {
  constexpr int kWidth = 24;
  int filled = int(double(step) / double(std::max<int64_t>(total_, 1)) * kWidth);
  return "[" + std::string(size_t(filled), '=') + std::string(size_t(kWidth - filled), ' ') + "]";
}

void Progress::update(int64_t step, double loss, double lr, double tokens_per_s) {
  if (!tty_ && step != first_ + 1 && step != total_ && step % every_ != 0) return;
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  double eta = elapsed / double(step - first_) * double(total_ - step);
  char buf[256];
  std::snprintf(buf, sizeof buf, "step %lld/%lld %s loss %.4f | lr %.2e | %.0f tok/s | ETA %s",
                (long long)step, (long long)total_, bar(step).c_str(), loss, lr, tokens_per_s,
                format_duration(eta).c_str());
  last_ = buf;
  if (tty_)
    std::fprintf(out_, "\r\033[K%s", buf);
  else
    std::fprintf(out_, "%s\n", buf);
  std::fflush(out_);
}

void Progress::note(const std::string& line) {
  if (tty_)
    std::fprintf(out_, "\r\033[K%s\n%s", line.c_str(), last_.c_str());
  else
    std::fprintf(out_, "%s\n", line.c_str());
  std::fflush(out_);
}

void Progress::finish() {
  if (tty_ && !last_.empty()) std::fputc('\n', out_);
  std::fflush(out_);
}

}  // namespace purelm
