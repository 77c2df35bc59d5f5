// The progress of a download on stderr: on a terminal, a bar per file in flight and one for the
// total (bytes, rate, ETA), redrawn in place; otherwise one line per file as it completes.
// Thread-safe: the download's workers report into it.
#pragma once

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <map>
#include <mutex>
#include <string>

namespace purelm::hub {

class Progress {
 public:
  // `out` nullptr: silent. total_bytes -1: unknown.
  Progress(std::FILE* out, int files, int64_t total_bytes);
  // A file starts with `done` of its `size` bytes already on disk (a resumed download).
  void start(const std::string& name, int64_t size, int64_t done);
  void add(const std::string& name, int64_t bytes);
  void restart(const std::string& name);  // the server ignored the Range: from byte 0 again
  void finish(const std::string& name);   // the file is in place
  void close();                           // ends the display

 private:
  struct File {
    int64_t size, done, resumed;
    std::chrono::steady_clock::time_point start;
  };
  using Clock = std::chrono::steady_clock;
  std::string line(const std::string& name, int64_t done, int64_t size, double rate) const;
  void draw(bool force);  // with mu_ held

  std::FILE* out_;
  bool tty_;
  int files_, finished_ = 0;
  int64_t total_, done_ = 0, fetched_ = 0;  // fetched_: bytes received in this run
  Clock::time_point start_, last_draw_;
  int drawn_ = 0;  // lines of bars on screen
  std::map<std::string, File> active_;
  std::mutex mu_;
};

std::string format_bytes(int64_t bytes);  // "1.04 MB"

}  // namespace purelm::hub
