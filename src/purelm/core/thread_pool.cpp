#include "purelm/core/thread_pool.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace purelm {

namespace {

thread_local bool t_in_task = false;

class Pool {
 public:
  explicit Pool(int n) : size_(std::max(1, n)) {
    for (int i = 1; i < size_; ++i) workers_.emplace_back([this] { work(); });
  }
  ~Pool() {
    {
      std::lock_guard lock(mu_);
      stop_ = true;
    }
    wake_.notify_all();
    for (auto& w : workers_) w.join();
  }
  int size() const { return size_; }

  void run(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
    int64_t chunks = std::min<int64_t>(size_, (n + grain - 1) / std::max<int64_t>(grain, 1));
    if (chunks <= 1 || t_in_task) {
      if (n > 0) fn(0, n);
      return;
    }
    std::unique_lock lock(mu_);
    fn_ = &fn;
    n_ = n;
    chunks_ = chunks;
    next_ = 0;
    pending_ = chunks;
    ++generation_;
    lock.unlock();
    wake_.notify_all();
    drain();
    lock.lock();
    // Workers that joined this run must leave before the next run rewrites the shared state.
    done_.wait(lock, [&] { return pending_ == 0 && in_drain_ == 0; });
    fn_ = nullptr;
  }

 private:
  // Claims chunks until none are left; both workers and the caller run this.
  void drain() {
    t_in_task = true;
    for (;;) {
      int64_t c = next_.fetch_add(1);
      if (c >= chunks_) break;
      (*fn_)(n_ * c / chunks_, n_ * (c + 1) / chunks_);
      if (pending_.fetch_sub(1) == 1) {
        std::lock_guard lock(mu_);
        done_.notify_all();
      }
    }
    t_in_task = false;
  }

  void work() {
    uint64_t seen = 0;
    for (;;) {
      {
        std::unique_lock lock(mu_);
        wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
        if (stop_) return;
        seen = generation_;
        ++in_drain_;
      }
      drain();
      std::lock_guard lock(mu_);
      if (--in_drain_ == 0) done_.notify_all();
    }
  }

  int size_;
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable wake_, done_;
  bool stop_ = false;
  uint64_t generation_ = 0;
  int in_drain_ = 0;
  const std::function<void(int64_t, int64_t)>* fn_ = nullptr;
  int64_t n_ = 0, chunks_ = 0;
  std::atomic<int64_t> next_{0}, pending_{0};
};

std::unique_ptr<Pool>& pool() {
  static std::unique_ptr<Pool> p =
      std::make_unique<Pool>(int(std::max(1u, std::thread::hardware_concurrency())));
  return p;
}

}  // namespace

int num_threads() { return pool()->size(); }

void set_num_threads(int n) {
  if (n <= 0) n = int(std::max(1u, std::thread::hardware_concurrency()));
  if (n != pool()->size()) pool() = std::make_unique<Pool>(n);
}

void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  pool()->run(n, grain, fn);
}

}  // namespace purelm
