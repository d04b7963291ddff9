// 2-D convolution (NHWC) as im2col + GEMM, with both gradients: col2im for the input, colsᵀ·dy for the filter.
// Work goes image by image so the column buffer stays one image large.
#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels.h"
#include "parallel.h"

namespace sseg {
namespace {

int64_t patch_size(const ConvGeometry& g) { return static_cast<int64_t>(g.k_h) * g.k_w * g.in_c; }
int64_t out_pixels(const ConvGeometry& g) { return static_cast<int64_t>(g.out_h) * g.out_w; }

bool is_pointwise(const ConvGeometry& g) {
  return g.k_h == 1 && g.k_w == 1 && g.stride_h == 1 && g.stride_w == 1 && g.pad_top == 0 && g.pad_left == 0;
}

// cols[p, (ky, kx, c)] = x[oy·s − pad + ky·d, ox·s − pad + kx·d, c], zero outside the image.
void im2col(const float* x, float* cols, const ConvGeometry& g) {
  const int64_t k = patch_size(g);
  for (int oy = 0; oy < g.out_h; ++oy) {
    for (int ox = 0; ox < g.out_w; ++ox) {
      float* row = cols + (static_cast<int64_t>(oy) * g.out_w + ox) * k;
      for (int ky = 0; ky < g.k_h; ++ky) {
        const int iy = oy * g.stride_h - g.pad_top + ky * g.dil_h;
        for (int kx = 0; kx < g.k_w; ++kx) {
          const int ix = ox * g.stride_w - g.pad_left + kx * g.dil_w;
          float* dst = row + (static_cast<int64_t>(ky) * g.k_w + kx) * g.in_c;
          if (iy < 0 || iy >= g.in_h || ix < 0 || ix >= g.in_w) std::memset(dst, 0, g.in_c * sizeof(float));
          else std::memcpy(dst, x + (static_cast<int64_t>(iy) * g.in_w + ix) * g.in_c, g.in_c * sizeof(float));
        }
      }
    }
  }
}

// The adjoint of im2col: dx[…] += cols[…] (dx must start zeroed).
void col2im(const float* cols, float* dx, const ConvGeometry& g) {
  const int64_t k = patch_size(g);
  for (int oy = 0; oy < g.out_h; ++oy) {
    for (int ox = 0; ox < g.out_w; ++ox) {
      const float* row = cols + (static_cast<int64_t>(oy) * g.out_w + ox) * k;
      for (int ky = 0; ky < g.k_h; ++ky) {
        const int iy = oy * g.stride_h - g.pad_top + ky * g.dil_h;
        if (iy < 0 || iy >= g.in_h) continue;
        for (int kx = 0; kx < g.k_w; ++kx) {
          const int ix = ox * g.stride_w - g.pad_left + kx * g.dil_w;
          if (ix < 0 || ix >= g.in_w) continue;
          const float* src = row + (static_cast<int64_t>(ky) * g.k_w + kx) * g.in_c;
          float* dst = dx + (static_cast<int64_t>(iy) * g.in_w + ix) * g.in_c;
          for (int c = 0; c < g.in_c; ++c) dst[c] += src[c];
        }
      }
    }
  }
}

// Runs per_image(i, cols_buffer, threaded_gemm) for every image: images split across threads when there are
// enough of them, otherwise one image at a time with the GEMM itself threaded.
template <typename F>
void for_each_image(const ConvGeometry& g, int64_t cols_size, F&& per_image) {
  const int64_t work = out_pixels(g) * patch_size(g) * g.out_c;
  if (g.batch >= num_threads()) {
    parallel_for(g.batch, work * g.batch, [&](int64_t b0, int64_t b1) {
      std::vector<float> cols(cols_size);
      for (int64_t i = b0; i < b1; ++i) per_image(static_cast<int>(i), cols.data(), false);
    });
  } else {
    std::vector<float> cols(cols_size);
    for (int i = 0; i < g.batch; ++i) per_image(i, cols.data(), true);
  }
}

void product(const float* a, const float* b, float* c, int m, int n, int k, bool ta, bool tb, bool accumulate,
             bool threaded) {
  if (threaded) gemm_threaded(a, b, c, m, n, k, ta, tb, accumulate);
  else gemm_rows_any(a, b, c, m, n, k, ta, tb, 0, m, accumulate);
}

}  // namespace

void conv2d(const float* x, const float* filter, float* y, const ConvGeometry& g) {
  const int64_t p = out_pixels(g), k = patch_size(g), in_size = static_cast<int64_t>(g.in_h) * g.in_w * g.in_c;
  const bool pointwise = is_pointwise(g);
  for_each_image(g, pointwise ? 0 : p * k, [&](int i, float* cols, bool threaded) {
    const float* xi = x + i * in_size;
    if (!pointwise) im2col(xi, cols, g);
    product(pointwise ? xi : cols, filter, y + i * p * g.out_c, static_cast<int>(p), g.out_c, static_cast<int>(k),
            false, false, false, threaded);
  });
}

void conv2d_backprop_input(const float* dy, const float* filter, float* dx, const ConvGeometry& g) {
  const int64_t p = out_pixels(g), k = patch_size(g), in_size = static_cast<int64_t>(g.in_h) * g.in_w * g.in_c;
  const bool pointwise = is_pointwise(g);
  for_each_image(g, pointwise ? 0 : p * k, [&](int i, float* cols, bool threaded) {
    float* dxi = dx + i * in_size;
    // dcols (P, K) = dy (P, Cout) · filterᵀ (Cout, K)
    product(dy + i * p * g.out_c, filter, pointwise ? dxi : cols, static_cast<int>(p), static_cast<int>(k), g.out_c,
            false, true, false, threaded);
    if (!pointwise) {
      std::fill(dxi, dxi + in_size, 0.f);
      col2im(cols, dxi, g);
    }
  });
}

void conv2d_backprop_filter(const float* x, const float* dy, float* dfilter, const ConvGeometry& g) {
  const int64_t p = out_pixels(g), k = patch_size(g), in_size = static_cast<int64_t>(g.in_h) * g.in_w * g.in_c;
  const bool pointwise = is_pointwise(g);
  std::fill(dfilter, dfilter + k * g.out_c, 0.f);
  // Images in sequence (they all add into one filter gradient); the GEMM is threaded over filter rows.
  std::vector<float> cols(pointwise ? 0 : p * k);
  for (int i = 0; i < g.batch; ++i) {
    const float* xi = x + i * in_size;
    if (!pointwise) im2col(xi, cols.data(), g);
    // dfilter (K, Cout) += colsᵀ (K, P) · dy (P, Cout)
    gemm_threaded(pointwise ? xi : cols.data(), dy + i * p * g.out_c, dfilter, static_cast<int>(k), g.out_c,
                  static_cast<int>(p), true, false, true);
  }
}

}  // namespace sseg
