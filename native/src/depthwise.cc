// Depthwise 2-D convolution (NHWC, channel multiplier 1: filter [k_h, k_w, C]) with both gradients, as direct
// loops vectorised over channels. Every output value is summed in one fixed order (taps, or batch and pixels),
// so results do not depend on the thread count.
#include <algorithm>

#include "kernels.h"
#include "parallel.h"

namespace sseg {
namespace {

// Channels per thread chunk in the filter gradient: whole AVX-512 packets.
constexpr int64_t kChannelBlock = 16;

inline int64_t pixel(const ConvGeometry& g, int64_t b, int64_t y, int64_t x, bool input) {
  return input ? ((b * g.in_h + y) * g.in_w + x) * g.in_c : ((b * g.out_h + y) * g.out_w + x) * g.in_c;
}

inline void multiply_add(float* __restrict out, const float* __restrict a, const float* __restrict b, int64_t n) {
  for (int64_t c = 0; c < n; ++c) out[c] += a[c] * b[c];
}

}  // namespace

void depthwise_conv2d(const float* x, const float* filter, float* y, const ConvGeometry& g) {
  const int64_t c = g.in_c, rows = static_cast<int64_t>(g.batch) * g.out_h;
  parallel_for(rows, rows * g.out_w * g.k_h * g.k_w * c, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t b = r / g.out_h, oy = r % g.out_h;
      for (int64_t ox = 0; ox < g.out_w; ++ox) {
        float* out = y + pixel(g, b, oy, ox, false);
        std::fill(out, out + c, 0.f);
        for (int64_t ky = 0; ky < g.k_h; ++ky) {
          const int64_t iy = oy * g.stride_h - g.pad_top + ky * g.dil_h;
          if (iy < 0 || iy >= g.in_h) continue;
          for (int64_t kx = 0; kx < g.k_w; ++kx) {
            const int64_t ix = ox * g.stride_w - g.pad_left + kx * g.dil_w;
            if (ix < 0 || ix >= g.in_w) continue;
            multiply_add(out, x + pixel(g, b, iy, ix, true), filter + (ky * g.k_w + kx) * c, c);
          }
        }
      }
    }
  });
}

// dx[iy, ix] = Σ over the taps (ky, kx) whose output pixel (oy, ox) reads (iy, ix): dy[oy, ox] · filter[ky, kx].
void depthwise_conv2d_backprop_input(const float* dy, const float* filter, float* dx, const ConvGeometry& g) {
  const int64_t c = g.in_c, rows = static_cast<int64_t>(g.batch) * g.in_h;
  parallel_for(rows, rows * g.in_w * g.k_h * g.k_w * c, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t b = r / g.in_h, iy = r % g.in_h;
      for (int64_t ix = 0; ix < g.in_w; ++ix) {
        float* out = dx + pixel(g, b, iy, ix, true);
        std::fill(out, out + c, 0.f);
        for (int64_t ky = 0; ky < g.k_h; ++ky) {
          const int64_t ty = iy + g.pad_top - ky * g.dil_h;
          if (ty < 0 || ty % g.stride_h != 0 || ty / g.stride_h >= g.out_h) continue;
          for (int64_t kx = 0; kx < g.k_w; ++kx) {
            const int64_t tx = ix + g.pad_left - kx * g.dil_w;
            if (tx < 0 || tx % g.stride_w != 0 || tx / g.stride_w >= g.out_w) continue;
            multiply_add(out, dy + pixel(g, b, ty / g.stride_h, tx / g.stride_w, false),
                         filter + (ky * g.k_w + kx) * c, c);
          }
        }
      }
    }
  });
}

// dfilter[ky, kx] = Σ over images and output pixels of x[iy, ix] · dy[oy, ox]; threads own channel blocks.
void depthwise_conv2d_backprop_filter(const float* x, const float* dy, float* dfilter, const ConvGeometry& g) {
  const int64_t c = g.in_c, blocks = (c + kChannelBlock - 1) / kChannelBlock;
  const int64_t work = static_cast<int64_t>(g.batch) * g.out_h * g.out_w * g.k_h * g.k_w * c;
  std::fill(dfilter, dfilter + static_cast<int64_t>(g.k_h) * g.k_w * c, 0.f);
  parallel_for(blocks, work, [&](int64_t k0, int64_t k1) {
    const int64_t c0 = k0 * kChannelBlock, width = std::min(c, k1 * kChannelBlock) - c0;
    for (int64_t b = 0; b < g.batch; ++b)
      for (int64_t oy = 0; oy < g.out_h; ++oy)
        for (int64_t ox = 0; ox < g.out_w; ++ox) {
          const float* d = dy + pixel(g, b, oy, ox, false) + c0;
          for (int64_t ky = 0; ky < g.k_h; ++ky) {
            const int64_t iy = oy * g.stride_h - g.pad_top + ky * g.dil_h;
            if (iy < 0 || iy >= g.in_h) continue;
            for (int64_t kx = 0; kx < g.k_w; ++kx) {
              const int64_t ix = ox * g.stride_w - g.pad_left + kx * g.dil_w;
              if (ix < 0 || ix >= g.in_w) continue;
              multiply_add(dfilter + (ky * g.k_w + kx) * c + c0, x + pixel(g, b, iy, ix, true) + c0, d, width);
            }
          }
        }
  });
}

}  // namespace sseg
