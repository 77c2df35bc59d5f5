#include "purelm/hub/progress.h"

#include <unistd.h>

#include <algorithm>

namespace purelm::hub {

namespace {

constexpr auto kRedraw = std::chrono::milliseconds(100);

std::string format_eta(double s) {
  char buf[32];
  if (s < 60)
    std::snprintf(buf, sizeof buf, "%ds", int(s));
  else if (s < 3600)
    std::snprintf(buf, sizeof buf, "%dm%02ds", int(s) / 60, int(s) % 60);
  else
    std::snprintf(buf, sizeof buf, "%dh%02dm", int(s) / 3600, int(s) % 3600 / 60);
  return buf;
}

double seconds_since(std::chrono::steady_clock::time_point t) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t).count();
}

}  // namespace

std::string format_bytes(int64_t bytes) {
  const char* units[] = {"B", "kB", "MB", "GB", "TB"};
  double v = double(bytes);
  int u = 0;
  while (v >= 1000 && u < 4) {
    v /= 1000;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, u == 0 ? "%.0f %s" : "%.2f %s", v, units[u]);
  return buf;
}

Progress::Progress(std::FILE* out, int files, int64_t total_bytes)
    : out_(out),
      tty_(out && ::isatty(::fileno(out)) != 0),
      files_(files),
      total_(total_bytes),
      start_(Clock::now()),
      last_draw_(start_) {}

std::string Progress::line(const std::string& name, int64_t done, int64_t size, double rate) const {
  constexpr int kWidth = 20;
  std::string label = name.size() > 28 ? "..." + name.substr(name.size() - 25) : name;
  std::string bar;
  if (size > 0) {
    const int filled = int(double(std::min(done, size)) / double(size) * kWidth);
    bar = "[" + std::string(size_t(filled), '=') + std::string(size_t(kWidth - filled), ' ') + "] ";
  }
  std::string text = label + std::string(label.size() < 28 ? 28 - label.size() : 0, ' ') + " " +
                     bar + format_bytes(done) + (size >= 0 ? " / " + format_bytes(size) : "");
  if (rate > 0) {
    text += "  " + format_bytes(int64_t(rate)) + "/s";
    if (size > done) text += "  ETA " + format_eta(double(size - done) / rate);
  }
  return text;
}

void Progress::draw(bool force) {
  if (!tty_) return;
  const auto now = Clock::now();
  if (!force && now - last_draw_ < kRedraw) return;
  last_draw_ = now;
  std::string screen = "\r";
  if (drawn_ > 1) screen += "\033[" + std::to_string(drawn_ - 1) + "A";
  screen += "\033[J";
  drawn_ = 0;
  for (const auto& [name, f] : active_) {
    const double t = seconds_since(f.start);
    screen += line(name, f.done, f.size, t > 0 ? double(f.done - f.resumed) / t : 0) + "\n";
    ++drawn_;
  }
  const double t = seconds_since(start_);
  screen += line("total (" + std::to_string(finished_) + "/" + std::to_string(files_) + " files)",
                 done_, total_, t > 0 ? double(fetched_) / t : 0);
  ++drawn_;
  std::fputs(screen.c_str(), out_);
  std::fflush(out_);
}

void Progress::start(const std::string& name, int64_t size, int64_t done) {
  if (!out_) return;
  std::lock_guard<std::mutex> lock(mu_);
  active_[name] = File{size, done, done, Clock::now()};
  done_ += done;
  draw(true);
}

void Progress::add(const std::string& name, int64_t bytes) {
  if (!out_) return;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = active_.find(name);
  if (it == active_.end()) return;
  it->second.done += bytes;
  done_ += bytes;
  fetched_ += bytes;
  draw(false);
}

void Progress::restart(const std::string& name) {
  if (!out_) return;
  std::lock_guard<std::mutex> lock(mu_);
  auto it = active_.find(name);
  if (it == active_.end()) return;
  done_ -= it->second.done;
  it->second.done = it->second.resumed = 0;
}

void Progress::finish(const std::string& name) {
  if (!out_) return;
  std::lock_guard<std::mutex> lock(mu_);
  ++finished_;
  auto it = active_.find(name);
  if (it == active_.end()) return;
  const double t = seconds_since(it->second.start);
  const int64_t got = it->second.done - it->second.resumed;
  char rate[64] = "";
  if (t > 0) std::snprintf(rate, sizeof rate, ", %s/s", format_bytes(int64_t(got / t)).c_str());
  char text[512];
  std::snprintf(text, sizeof text, "%s: %s in %.1fs%s%s", name.c_str(),
                format_bytes(it->second.done).c_str(), t, rate,
                it->second.resumed > 0
                    ? (" (resumed at " + format_bytes(it->second.resumed) + ")").c_str()
                    : "");
  active_.erase(it);
  if (tty_) {
    std::string clear = "\r";
    if (drawn_ > 1) clear += "\033[" + std::to_string(drawn_ - 1) + "A";
    std::fprintf(out_, "%s\033[J%s\n", clear.c_str(), text);
    drawn_ = 0;
    draw(true);
  } else {
    std::fprintf(out_, "%s\n", text);
    std::fflush(out_);
  }
}

void Progress::close() {
  if (!out_) return;
  std::lock_guard<std::mutex> lock(mu_);
  if (tty_ && drawn_ > 0) {
    draw(true);
    std::fputc('\n', out_);
    drawn_ = 0;
  }
  std::fflush(out_);
}

}  // namespace purelm::hub
