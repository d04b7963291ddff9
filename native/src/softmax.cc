// Row-wise softmax and its gradient: one pass per row instead of tfjs's max/sub/exp/sum/div chain.
#include <Eigen/Core>
#include <algorithm>

#include "deterministic.h"
#include "kernels.h"
#include "parallel.h"

namespace sseg {

void softmax(const float* x, float* y, int64_t rows, int64_t cols) {
  parallel_for(rows, rows * cols * 4, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* in = x + r * cols;
      float* out = y + r * cols;
      const float max = *std::max_element(in, in + cols);
      apply_packets(in, out, cols, [max](auto& i, auto& o) { o = (i - max).exp(); });
      const float total = lane_sum(out, cols);
      for (int64_t c = 0; c < cols; ++c) out[c] /= total;
    }
  });
}

void softmax_grad(const float* y, const float* dy, float* dx, int64_t rows, int64_t cols) {
  parallel_for(rows, rows * cols * 2, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float *yr = y + r * cols, *dyr = dy + r * cols;
      float* out = dx + r * cols;
      const float dot = lane_dot(yr, dyr, cols);
      for (int64_t c = 0; c < cols; ++c) out[c] = yr[c] * (dyr[c] - dot);
    }
  });
}

}  // namespace sseg
