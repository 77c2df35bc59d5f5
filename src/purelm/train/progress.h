// The progress display of a training run on stderr: one line rewritten in place on a terminal,
// otherwise a line every few percent (log files and pipes stay readable).
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <string>

namespace purelm {

class Progress {
 public:
  // Steps first..total will be reported (first > 0 when a run is resumed).
  Progress(int64_t first, int64_t total, std::FILE* out = stderr);
  // After update `step` (1-based) is done.
  void update(int64_t step, double loss, double lr, double tokens_per_s);
  // A line of its own (eval results, checkpoints), printed above the bar.
  void note(const std::string& line);
  void finish();  // ends the bar's line

 private:
  std::string bar(int64_t step) const;
  std::FILE* out_;
  bool tty_;
  int64_t first_, total_, every_;
  std::chrono::steady_clock::time_point start_;
  std::string last_;  // the bar as last drawn (a terminal redraws it after a note)
};

std::string format_duration(double seconds);  // "1h02m", "3m07s", "12.3s"

}  // namespace purelm
