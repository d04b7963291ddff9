#include "parallel.h"

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace sseg {
namespace {

// One parallel_for call. Chunks are claimed dynamically, so when another process holds the second core the
// calling thread simply takes every chunk itself instead of waiting for a worker that is not running.
struct Job {
  const std::function<void(int64_t, int64_t)>* fn;
  int64_t n;
  int64_t chunks;
  std::atomic<int64_t> next{0};
  std::atomic<int64_t> finished{0};

  void work() {
    for (int64_t c = next.fetch_add(1); c < chunks; c = next.fetch_add(1)) {
      (*fn)(n * c / chunks, n * (c + 1) / chunks);
      finished.fetch_add(1, std::memory_order_release);
    }
  }
};

thread_local bool inside_parallel = false;  // nested parallel_for runs inline instead of re-entering the pool

class Pool {
 public:
  explicit Pool(int threads) { resize(threads); }
  ~Pool() { stop(); }

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  void resize(int threads) {
    stop();
    stopping_ = false;
    for (int i = 1; i < threads; ++i) workers_.emplace_back([this] { loop(); });
  }

  void run(int64_t n, int64_t chunks, const std::function<void(int64_t, int64_t)>& fn) {
    auto job = std::make_shared<Job>();
    job->fn = &fn;
    job->n = n;
    job->chunks = chunks;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      job_ = job;
      ++generation_;
    }
    wake_.notify_all();
    inside_parallel = true;
    job->work();
    inside_parallel = false;
    // Every chunk is claimed; wait only for chunks a worker is still finishing.
    while (job->finished.load(std::memory_order_acquire) < chunks) std::this_thread::yield();
    std::lock_guard<std::mutex> lock(mutex_);
    if (job_ == job) job_.reset();
  }

 private:
  void loop() {
    inside_parallel = true;
    uint64_t seen = 0;
    for (;;) {
      std::shared_ptr<Job> job;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return stopping_ || generation_ != seen; });
        if (stopping_) return;
        seen = generation_;
        job = job_;
      }
      if (job) job->work();  // a stale job has no chunks left, so this returns at once
    }
  }

  void stop() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stopping_ = true;
    }
    wake_.notify_all();
    for (auto& w : workers_) w.join();
    workers_.clear();
  }

  std::vector<std::thread> workers_;
  std::mutex mutex_;
  std::condition_variable wake_;
  std::shared_ptr<Job> job_;
  uint64_t generation_ = 0;
  bool stopping_ = false;
};

Pool& pool() {
  static Pool instance(std::max(1u, std::min(std::thread::hardware_concurrency(), 8u)));
  return instance;
}

}  // namespace

void set_num_threads(int n) { pool().resize(std::max(1, n)); }
int num_threads() { return pool().size(); }

void parallel_for(int64_t n, int64_t work, const std::function<void(int64_t, int64_t)>& fn, int64_t max_chunks) {
  if (n <= 0) return;
  if (inside_parallel || num_threads() == 1 || n == 1 || work < kParallelThreshold) {
    fn(0, n);
    return;
  }
  // Several chunks per thread (each still worth waking a thread for) balance load under contention.
  int64_t chunks = std::min<int64_t>(n, std::max<int64_t>(num_threads(), std::min<int64_t>(
      4 * num_threads(), work / kParallelThreshold)));
  if (max_chunks > 0) chunks = std::min(chunks, max_chunks);
  pool().run(n, chunks, fn);
}

}  // namespace sseg
