#include "purelm/core/thread_pool.h"

#ifdef __linux__
#include <sched.h>
#endif

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace purelm {

namespace {

thread_local bool t_in_task = false;

// How long a thread spins before it sleeps on a condition variable. A decode step runs some two
// hundred short loops, and waking a sleeping thread costs a futex call and tens of microseconds
// each time; loops that follow each other within this window cost neither.
constexpr auto kSpin = std::chrono::microseconds(200);

// Tells the core it is in a spin loop: it yields to the other hardware thread and saves power.
inline void cpu_relax() {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  asm volatile("yield");
#endif
}

// Polls `ready` for up to kSpin; whether it became true.
template <class Ready>
bool spin_until(Ready ready) {
  const auto end = std::chrono::steady_clock::now() + kSpin;
  for (;;) {
    for (int i = 0; i < 64; ++i) {
      if (ready()) return true;
      cpu_relax();
    }
    if (std::chrono::steady_clock::now() > end) return false;
  }
}

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
    // A worker still inside the previous run's drain may read the shared state: let it leave.
    idle_.wait(lock, [&] { return in_drain_ == 0; });
    fn_ = &fn;
    n_ = n;
    chunks_ = chunks;
    next_ = 0;
    pending_ = chunks;
    generation_.fetch_add(1, std::memory_order_release);
    lock.unlock();
    wake_.notify_all();
    drain();
    // Every chunk has returned once pending_ is 0, so fn may go out of scope.
    if (!spin_until([&] { return pending_.load(std::memory_order_acquire) == 0; })) {
      lock.lock();
      done_.wait(lock, [&] { return pending_ == 0; });
    }
  }

 private:
  // Claims chunks until none are left; both workers and the caller run this.
  void drain() {
    t_in_task = true;
    for (;;) {
      int64_t c = next_.fetch_add(1);
      if (c >= chunks_) break;
      (*fn_)(n_ * c / chunks_, n_ * (c + 1) / chunks_);
      if (pending_.fetch_sub(1, std::memory_order_acq_rel) == 1) {
        std::lock_guard lock(mu_);
        done_.notify_all();
      }
    }
    t_in_task = false;
  }

  void work() {
    uint64_t seen = 0;
    for (;;) {
      spin_until([&] { return generation_.load(std::memory_order_acquire) != seen; });
      {
        std::unique_lock lock(mu_);
        wake_.wait(lock, [&] { return stop_ || generation_ != seen; });
        if (stop_) return;
        seen = generation_;
        ++in_drain_;
      }
      drain();
      std::lock_guard lock(mu_);
      if (--in_drain_ == 0) idle_.notify_all();
    }
  }

  int size_;
  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::condition_variable wake_, done_, idle_;
  bool stop_ = false;
  std::atomic<uint64_t> generation_{0};
  int in_drain_ = 0;
  const std::function<void(int64_t, int64_t)>* fn_ = nullptr;
  int64_t n_ = 0, chunks_ = 0;
  std::atomic<int64_t> next_{0}, pending_{0};
};

std::unique_ptr<Pool>& pool() {
  static std::unique_ptr<Pool> p = std::make_unique<Pool>(available_cores());
  return p;
}

}  // namespace

// Under mpirun with a core per process, each is bound to its own, and a pool wider than that
// would only take turns on it.
int available_cores() {
#ifdef __linux__
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) return std::max(1, CPU_COUNT(&set));
#endif
  return int(std::max(1u, std::thread::hardware_concurrency()));
}

int num_threads() { return pool()->size(); }

void set_num_threads(int n) {
  if (n <= 0) n = available_cores();
  if (n != pool()->size()) pool() = std::make_unique<Pool>(n);
}

void parallel_for(int64_t n, int64_t grain, const std::function<void(int64_t, int64_t)>& fn) {
  pool()->run(n, grain, fn);
}

}  // namespace purelm
