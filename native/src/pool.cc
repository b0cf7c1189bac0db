#include "pool.h"

#include <sched.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

#if defined(__x86_64__)
#include <immintrin.h>
#define PLD_PAUSE() _mm_pause()
#else
#define PLD_PAUSE() ((void)0)
#endif

namespace pld_native {
namespace {

// Workers spin this many pause instructions (~0.1 ms) for the next job before sleeping: a training
// step issues hundreds of short kernels back to back, and waking a sleeping thread costs more than
// many of them take.
constexpr int kSpin = 4000;

// Jobs and task indices share one atomic word (job number << 32 | next task), so a worker that
// wakes late for a finished job cannot claim a task of the next one: its claim fails.
constexpr int kShift = 32;
constexpr uint64_t kIndexMask = (uint64_t{1} << kShift) - 1;

class Pool {
 public:
  ~Pool() { Stop(); }

  void Resize(int threads) {
    std::lock_guard<std::mutex> one_job(run_mu_);
    if (threads < 1) threads = 1;
    if (threads == static_cast<int>(workers_.size()) + 1) return;
    Stop();
    stop_ = false;
    for (int i = 0; i < threads - 1; i++) workers_.emplace_back([this] { Work(); });
  }

  int Threads() const { return static_cast<int>(workers_.size()) + 1; }

  void Run(int64_t tasks, const std::function<void(int64_t)>& body) {
    if (tasks <= 0) return;
    if (workers_.empty() || tasks == 1 || tasks > static_cast<int64_t>(kIndexMask)) {
      for (int64_t i = 0; i < tasks; i++) body(i);
      return;
    }
    // One job at a time: Node worker threads may share the addon.
    std::lock_guard<std::mutex> one_job(run_mu_);
    body_ = &body;
    completed_.store(0, std::memory_order_relaxed);
    const uint64_t job = (word_.load(std::memory_order_relaxed) >> kShift) + 1;
    // The task count carries its job's number: a worker still looping in the previous job must
    // not compare that job's indices with this job's count (it would claim an index past the
    // previous job's end and run it with a body that may no longer exist).
    job_tasks_.store((job << kShift) | static_cast<uint64_t>(tasks), std::memory_order_release);
    // Sequentially consistent with the sleepers' count (a store then a load on each side): either
    // the worker sees the new job before sleeping or this thread sees it asleep and wakes it.
    word_.store(job << kShift);
    if (sleepers_.load() > 0) {
      std::lock_guard<std::mutex> lock(mu_);
      cv_.notify_all();
    }
    Claim(job);
    // Wait for tasks other threads still run; a worker that has not woken yet holds none.
    for (int spin = 0; completed_.load(std::memory_order_acquire) < tasks; spin++) {
      if (spin < 2000) PLD_PAUSE();
      else sched_yield();
    }
  }

 private:
  void Claim(uint64_t job) {
    const uint64_t jt = job_tasks_.load(std::memory_order_acquire);
    if ((jt >> kShift) != job) return;  // the count of another job
    const int64_t tasks = static_cast<int64_t>(jt & kIndexMask);
    for (;;) {
      uint64_t w = word_.load(std::memory_order_acquire);
      if ((w >> kShift) != job) return;
      const int64_t i = static_cast<int64_t>(w & kIndexMask);
      if (i >= tasks) return;
      if (!word_.compare_exchange_weak(w, w + 1, std::memory_order_acq_rel)) continue;
      (*body_)(i);
      completed_.fetch_add(1, std::memory_order_release);
    }
  }

  void Work() {
    uint64_t seen = 0;
    for (;;) {
      const auto job = [&] { return word_.load() >> kShift; };
      for (int spin = 0; job() == seen && spin < kSpin && !stop_; spin++) PLD_PAUSE();
      if (job() == seen) {
        std::unique_lock<std::mutex> lock(mu_);
        sleepers_.fetch_add(1);
        cv_.wait(lock, [&] { return stop_ || job() != seen; });
        sleepers_.fetch_sub(1, std::memory_order_acq_rel);
      }
      if (stop_) return;
      seen = job();
      Claim(seen);
    }
  }

  void Stop() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
      cv_.notify_all();
    }
    for (auto& t : workers_) t.join();
    workers_.clear();
  }

  std::vector<std::thread> workers_;
  std::mutex mu_;
  std::mutex run_mu_;
  std::condition_variable cv_;
  std::atomic<uint64_t> word_{0};
  std::atomic<uint64_t> job_tasks_{0};
  std::atomic<int64_t> completed_{0};
  std::atomic<int> sleepers_{0};
  std::atomic<bool> stop_{false};
  const std::function<void(int64_t)>* body_ = nullptr;
};

Pool& ThePool() {
  // Never destroyed: joining threads from a static destructor at process exit can deadlock.
  static Pool* pool = new Pool();
  return *pool;
}

}  // namespace

void SetPoolThreads(int threads) { ThePool().Resize(threads); }
int PoolThreads() { return ThePool().Threads(); }
void ParallelFor(int64_t tasks, const std::function<void(int64_t)>& body) { ThePool().Run(tasks, body); }

}  // namespace pld_native
