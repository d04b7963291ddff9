// The training step's optimiser kernels: the gradients' sum of squares (for the global norm) and AdamW in place.
// Both mirror src/engine/kernels/optimizer.ts exactly: AdamW op by op in float32 as torch.optim.AdamW (and the
// JavaScript path) computes it — the build turns FMA contraction off, so a·b + c rounds twice here too — and the
// sum of squares in double over fixed 65,536-element chunks combined in order, so the threads do not change it.
#include <algorithm>
#include <cmath>
#include <vector>

#include "kernels.h"
#include "parallel.h"

namespace sseg {

double sum_of_squares(const float* x, int64_t n) {
  const int64_t chunks = (n + kSumChunk - 1) / kSumChunk;
  std::vector<double> partial(static_cast<size_t>(chunks), 0.0);
  parallel_for(chunks, n, [&](int64_t c0, int64_t c1) {
    for (int64_t c = c0; c < c1; ++c) {
      double sum = 0;
      const int64_t end = std::min(n, (c + 1) * kSumChunk);
      for (int64_t i = c * kSumChunk; i < end; ++i) sum += static_cast<double>(x[i]) * x[i];
      partial[static_cast<size_t>(c)] = sum;
    }
  });
  double total = 0;
  for (double p : partial) total += p;
  return total;
}

void adamw(float* param, const float* grad, float* exp_avg, float* exp_avg_sq, int64_t n, const AdamWStep& s) {
  parallel_for(n, n * 8, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) {
      const float g = s.scale_gradient ? grad[i] * s.gradient_scale : grad[i];
      const float m = exp_avg[i] * s.beta1 + g * s.one_minus_beta1;
      const float v = exp_avg_sq[i] * s.beta2 + (g * g) * s.one_minus_beta2;
      const float decayed = s.decay ? param[i] * s.decay_factor : param[i];
      const float denominator = std::sqrt(v) / s.bias_correction2_sqrt + s.eps;
      exp_avg[i] = m;
      exp_avg_sq[i] = v;
      param[i] = decayed - (m / denominator) * s.step_size;
    }
  });
}

}  // namespace sseg
