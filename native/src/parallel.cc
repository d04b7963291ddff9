#include "parallel.h"

#include <algorithm>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <vector>

namespace sseg {
namespace {

class Pool {
 public:
  explicit Pool(int threads) { resize(threads); }
  ~Pool() { stop(); }

  int size() const { return static_cast<int>(workers_.size()) + 1; }

  void resize(int threads) {
    stop();
    stopping_ = false;
    for (int i = 1; i < threads; ++i) workers_.emplace_back([this, i] { loop(i); });
  }

  void run(int64_t n, const std::function<void(int64_t, int64_t)>& fn) {
    const int parts = std::min<int64_t>(size(), n);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      job_ = &fn;
      n_ = n;
      parts_ = parts;
      pending_ = parts - 1;
      ++generation_;
    }
    wake_.notify_all();
    fn(0, chunk_end(0));
    std::unique_lock<std::mutex> lock(mutex_);
    done_.wait(lock, [this] { return pending_ == 0; });
    job_ = nullptr;
  }

 private:
  int64_t chunk_end(int part) const { return n_ * (part + 1) / parts_; }

  void loop(int index) {
    uint64_t seen = 0;
    for (;;) {
      const std::function<void(int64_t, int64_t)>* job;
      {
        std::unique_lock<std::mutex> lock(mutex_);
        wake_.wait(lock, [&] { return stopping_ || generation_ != seen; });
        if (stopping_) return;
        seen = generation_;
        if (index >= parts_) continue;
        job = job_;
      }
      (*job)(n_ * index / parts_, chunk_end(index));
      std::lock_guard<std::mutex> lock(mutex_);
      if (--pending_ == 0) done_.notify_one();
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
  std::condition_variable wake_, done_;
  const std::function<void(int64_t, int64_t)>* job_ = nullptr;
  int64_t n_ = 0;
  int parts_ = 1;
  int pending_ = 0;
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

namespace {
thread_local bool inside_parallel = false;  // nested parallel_for runs inline instead of deadlocking the pool
}

void parallel_for(int64_t n, int64_t work, const std::function<void(int64_t, int64_t)>& fn) {
  if (n <= 0) return;
  if (inside_parallel || num_threads() == 1 || n == 1 || work < kParallelThreshold) {
    fn(0, n);
    return;
  }
  inside_parallel = true;
  pool().run(n, [&fn](int64_t begin, int64_t end) {
    const bool outer = inside_parallel;
    inside_parallel = true;
    fn(begin, end);
    inside_parallel = outer;
  });
  inside_parallel = false;
}

}  // namespace sseg
