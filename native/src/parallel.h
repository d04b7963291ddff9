// A tiny persistent thread pool: parallel_for splits [0, n) into one contiguous chunk per thread.
// Work below a size threshold stays on the calling thread (waking a worker costs microseconds).
#pragma once
#include <cstdint>
#include <functional>

namespace sseg {

void set_num_threads(int n);
int num_threads();

// Runs fn(begin, end) over [0, n) on up to num_threads() threads when `work` (in elements) is worth it.
// max_chunks caps the pieces [0, n) is cut into (0: several per thread, for balance under contention).
void parallel_for(int64_t n, int64_t work, const std::function<void(int64_t, int64_t)>& fn, int64_t max_chunks = 0);

constexpr int64_t kParallelThreshold = 1 << 15;

}  // namespace sseg
