// Fused LayerNorm (forward and backward) and exact GELU (forward and backward): one pass each instead of tfjs's
// chains of element-wise kernels. Deterministic: row statistics are summed in order in double; the parameter
// gradients are summed per fixed block of rows and the blocks added in order, whatever the threads.
#include <Eigen/Core>
#include <unsupported/Eigen/SpecialFunctions>
#include <algorithm>
#include <cmath>
#include <vector>

#include "deterministic.h"
#include "kernels.h"
#include "parallel.h"

namespace sseg {
namespace {
constexpr int64_t kRowBlock = 64;

// The blocks' partial sums [blocks][2][cols] (γ then β) added in block order into dgamma and dbeta (either null).
void sum_partials(const std::vector<double>& partial, int64_t blocks, int64_t cols, float* dgamma, float* dbeta) {
  for (int64_t j = 0; j < cols; ++j) {
    double g = 0, bsum = 0;
    for (int64_t b = 0; b < blocks; ++b) {
      g += partial[static_cast<size_t>(b * cols * 2 + j)];
      bsum += partial[static_cast<size_t>(b * cols * 2 + cols + j)];
    }
    if (dgamma) dgamma[j] = static_cast<float>(g);
    if (dbeta) dbeta[j] = static_cast<float>(bsum);
  }
}
}  // namespace

void layer_norm(const float* x, const float* gamma, const float* beta, float* y, float* mean, float* rstd,
                int64_t rows, int64_t cols, float eps) {
  parallel_for(rows, rows * cols * 4, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* xr = x + r * cols;
      double sum = 0;
      for (int64_t j = 0; j < cols; ++j) sum += xr[j];
      const float m = static_cast<float>(sum / static_cast<double>(cols));
      double squares = 0;
      for (int64_t j = 0; j < cols; ++j) {
        const double d = static_cast<double>(xr[j]) - m;
        squares += d * d;
      }
      const float s = 1.f / std::sqrt(static_cast<float>(squares / static_cast<double>(cols)) + eps);
      mean[r] = m;
      rstd[r] = s;
      float* yr = y + r * cols;
      for (int64_t j = 0; j < cols; ++j) yr[j] = (xr[j] - m) * s * gamma[j] + beta[j];
    }
  });
}

void layer_norm_grad(const float* dy, const float* x, const float* gamma, const float* mean, const float* rstd,
                     float* dx, float* dgamma, float* dbeta, int64_t rows, int64_t cols) {
  const int64_t blocks = (rows + kRowBlock - 1) / kRowBlock;
  const bool params = dgamma != nullptr || dbeta != nullptr;
  std::vector<double> partial(params ? static_cast<size_t>(blocks * cols * 2) : 0, 0.0);
  parallel_for(blocks, rows * cols * 8, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      double* pg = params ? partial.data() + b * cols * 2 : nullptr;
      double* pb = params ? pg + cols : nullptr;
      for (int64_t r = b * kRowBlock; r < std::min(rows, (b + 1) * kRowBlock); ++r) {
        const float* xr = x + r * cols;
        const float* dyr = dy + r * cols;
        const float m = mean[r], s = rstd[r];
        if (params)
          for (int64_t j = 0; j < cols; ++j) {
            pg[j] += static_cast<double>(dyr[j]) * ((xr[j] - m) * s);
            pb[j] += dyr[j];
          }
        if (dx == nullptr) continue;
        double sum_g = 0, sum_gx = 0;
        for (int64_t j = 0; j < cols; ++j) {
          const float g = dyr[j] * gamma[j];
          sum_g += g;
          sum_gx += static_cast<double>(g) * ((xr[j] - m) * s);
        }
        const float a = static_cast<float>(sum_g / static_cast<double>(cols));
        const float c = static_cast<float>(sum_gx / static_cast<double>(cols));
        float* dxr = dx + r * cols;
        for (int64_t j = 0; j < cols; ++j) dxr[j] = s * (dyr[j] * gamma[j] - a - ((xr[j] - m) * s) * c);
      }
    }
  });
  if (params) sum_partials(partial, blocks, cols, dgamma, dbeta);
}

namespace {
template <typename F>
void packets_parallel(const float* x, float* out, int64_t n, F&& f) {
  parallel_for((n + 4095) / 4096, n * 8, [&](int64_t c0, int64_t c1) {
    const int64_t begin = c0 * 4096, end = std::min(n, c1 * 4096);
    apply_packets(x + begin, out + begin, end - begin, f);
  });
}
constexpr float kSqrtHalf = 0.70710678118654752440f;
constexpr float kInvSqrt2Pi = 0.39894228040143267794f;
}  // namespace

void gelu(const float* x, float* y, int64_t n) {
  packets_parallel(x, y, n, [](auto& i, auto& o) { o = i * 0.5f * ((i * kSqrtHalf).erf() + 1.f); });
}

void gelu_grad(const float* dy, const float* x, float* dx, int64_t n) {
  // Φ(x) + x·φ(x), then times dy
  packets_parallel(x, dx, n, [](auto& i, auto& o) {
    o = (i * kSqrtHalf).erf();  // on its own: inside the whole expression Eigen evaluates erf 6× slower
    o = (o + 1.f) * 0.5f + i * (i.square() * -0.5f).exp() * kInvSqrt2Pi;
  });
  parallel_for(n, n, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) dx[i] *= dy[i];
  });
}

}  // namespace sseg

namespace sseg {

// x, y [batch, spatial, channels] with channels = groups·cg; mean, rstd [batch, groups].
void group_norm(const float* x, const float* gamma, const float* beta, float* y, float* mean, float* rstd,
                int64_t batch, int64_t spatial, int64_t channels, int64_t groups, float eps) {
  const int64_t cg = channels / groups;
  const double count = static_cast<double>(spatial * cg);
  parallel_for(batch * groups, batch * spatial * channels * 4, [&](int64_t u0, int64_t u1) {
    for (int64_t u = u0; u < u1; ++u) {
      const int64_t b = u / groups, g = u % groups;
      const float* xb = x + b * spatial * channels + g * cg;
      double sum = 0;
      for (int64_t s = 0; s < spatial; ++s)
        for (int64_t k = 0; k < cg; ++k) sum += xb[s * channels + k];
      const float m = static_cast<float>(sum / count);
      double squares = 0;
      for (int64_t s = 0; s < spatial; ++s)
        for (int64_t k = 0; k < cg; ++k) {
          const double d = static_cast<double>(xb[s * channels + k]) - m;
          squares += d * d;
        }
      const float r = 1.f / std::sqrt(static_cast<float>(squares / count) + eps);
      mean[u] = m;
      rstd[u] = r;
      float* yb = y + b * spatial * channels + g * cg;
      const float* gg = gamma + g * cg;
      const float* bb = beta + g * cg;
      for (int64_t s = 0; s < spatial; ++s)
        for (int64_t k = 0; k < cg; ++k) yb[s * channels + k] = (xb[s * channels + k] - m) * r * gg[k] + bb[k];
    }
  });
}

void group_norm_grad(const float* dy, const float* x, const float* gamma, const float* mean, const float* rstd,
                     float* dx, float* dgamma, float* dbeta, int64_t batch, int64_t spatial, int64_t channels,
                     int64_t groups) {
  const int64_t cg = channels / groups;
  const double count = static_cast<double>(spatial * cg);
  if (dx != nullptr)
    parallel_for(batch * groups, batch * spatial * channels * 6, [&](int64_t u0, int64_t u1) {
      for (int64_t u = u0; u < u1; ++u) {
        const int64_t b = u / groups, g = u % groups;
        const int64_t base = b * spatial * channels + g * cg;
        const float m = mean[u], r = rstd[u];
        double sum_g = 0, sum_gx = 0;
        for (int64_t s = 0; s < spatial; ++s)
          for (int64_t k = 0; k < cg; ++k) {
            const int64_t i = base + s * channels + k;
            const float gk = dy[i] * gamma[g * cg + k];
            sum_g += gk;
            sum_gx += static_cast<double>(gk) * ((x[i] - m) * r);
          }
        const float a = static_cast<float>(sum_g / count), c = static_cast<float>(sum_gx / count);
        for (int64_t s = 0; s < spatial; ++s)
          for (int64_t k = 0; k < cg; ++k) {
            const int64_t i = base + s * channels + k;
            dx[i] = r * (dy[i] * gamma[g * cg + k] - a - ((x[i] - m) * r) * c);
          }
      }
    });
  if (dgamma == nullptr && dbeta == nullptr) return;
  // per image partial sums, added in image order
  std::vector<double> partial(static_cast<size_t>(batch * channels * 2), 0.0);
  parallel_for(batch, batch * spatial * channels * 2, [&](int64_t b0, int64_t b1) {
    for (int64_t b = b0; b < b1; ++b) {
      double* pg = partial.data() + b * channels * 2;
      double* pb = pg + channels;
      for (int64_t s = 0; s < spatial; ++s)
        for (int64_t c = 0; c < channels; ++c) {
          const int64_t i = (b * spatial + s) * channels + c;
          const int64_t u = b * groups + c / cg;
          pg[c] += static_cast<double>(dy[i]) * ((x[i] - mean[u]) * rstd[u]);
          pb[c] += dy[i];
        }
    }
  });
  sum_partials(partial, batch, channels, dgamma, dbeta);
}

void quick_gelu(const float* x, float* y, int64_t n) {
  packets_parallel(x, y, n, [](auto& i, auto& o) { o = i * (i * 1.702f).logistic(); });
}

void quick_gelu_grad(const float* dy, const float* x, float* dx, int64_t n) {
  // σ(1.702x)·(1 + 1.702x·(1 − σ(1.702x))), then times dy
  packets_parallel(x, dx, n, [](auto& i, auto& o) {
    const auto s = (i * 1.702f).logistic();
    o = s * ((i * 1.702f) * (1.f - s) + 1.f);
  });
  parallel_for(n, n, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) dx[i] *= dy[i];
  });
}

void relu6(const float* x, float* y, int64_t n) {
  parallel_for(n, n, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) y[i] = std::min(std::max(x[i], 0.f), 6.f);
  });
}

void relu6_grad(const float* dy, const float* x, float* dx, int64_t n) {
  parallel_for(n, n, [&](int64_t i0, int64_t i1) {
    for (int64_t i = i0; i < i1; ++i) dx[i] = x[i] > 0.f && x[i] < 6.f ? dy[i] : 0.f;
  });
}

}  // namespace sseg
