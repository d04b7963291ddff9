// Row-wise softmax and its gradient: one pass per row instead of tfjs's max/sub/exp/sum/div chain.
#include <Eigen/Core>
#include <algorithm>

#include "kernels.h"
#include "parallel.h"

namespace sseg {

void softmax(const float* x, float* y, int64_t rows, int64_t cols) {
  parallel_for(rows, rows * cols * 4, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      Eigen::Map<const Eigen::ArrayXf> in(x + r * cols, cols);
      Eigen::Map<Eigen::ArrayXf> out(y + r * cols, cols);
      out = (in - in.maxCoeff()).exp();
      out /= out.sum();
    }
  });
}

void softmax_grad(const float* y, const float* dy, float* dx, int64_t rows, int64_t cols) {
  parallel_for(rows, rows * cols * 2, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      Eigen::Map<const Eigen::ArrayXf> yr(y + r * cols, cols), dyr(dy + r * cols, cols);
      Eigen::Map<Eigen::ArrayXf> out(dx + r * cols, cols);
      const float dot = (yr * dyr).sum();
      out = yr * (dyr - dot);
    }
  });
}

}  // namespace sseg
