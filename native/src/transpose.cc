// N-d transpose as a strided copy: output in order, input walked with permuted strides; 2-D tiles for cache.
#include <algorithm>
#include <cstring>
#include <vector>

#include "kernels.h"
#include "parallel.h"

namespace sseg {
namespace {

constexpr int64_t kTile = 32;

// out (rows, cols) = x (cols, rows)ᵀ for `count` consecutive matrices.
void transpose2d(const float* x, float* out, int64_t count, int64_t rows, int64_t cols) {
  const int64_t tiles = (rows + kTile - 1) / kTile;
  parallel_for(count * tiles, count * rows * cols, [&](int64_t t0, int64_t t1) {
    for (int64_t t = t0; t < t1; ++t) {
      const int64_t m = t / tiles, r0 = (t % tiles) * kTile, r1 = std::min(rows, r0 + kTile);
      const float* src = x + m * rows * cols;
      float* dst = out + m * rows * cols;
      for (int64_t c0 = 0; c0 < cols; c0 += kTile) {
        const int64_t c1 = std::min(cols, c0 + kTile);
        for (int64_t r = r0; r < r1; ++r)
          for (int64_t c = c0; c < c1; ++c) dst[r * cols + c] = src[c * rows + r];
      }
    }
  });
}

}  // namespace

void transpose(const float* x, float* out, const int64_t* in_shape, const int* perm, int rank) {
  std::vector<int64_t> in_strides(rank), out_shape(rank);
  int64_t total = 1;
  for (int d = rank - 1; d >= 0; --d) {
    in_strides[d] = total;
    total *= in_shape[d];
  }
  for (int d = 0; d < rank; ++d) out_shape[d] = in_shape[perm[d]];
  if (total == 0) return;
  // A batch of 2-D transposes: perm = (0..k-1, k+1, k) after the caller has merged adjacent axes.
  bool batched2d = rank >= 2 && perm[rank - 1] == rank - 2 && perm[rank - 2] == rank - 1;
  for (int d = 0; batched2d && d < rank - 2; ++d) batched2d = perm[d] == d;
  if (batched2d) {
    const int64_t rows = out_shape[rank - 2], cols = out_shape[rank - 1];
    transpose2d(x, out, total / (rows * cols), rows, cols);
    return;
  }
  const int64_t inner = out_shape[rank - 1];
  const int64_t inner_stride = in_strides[perm[rank - 1]];
  const int64_t rows = total / inner;
  parallel_for(rows, total, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      int64_t offset = 0, rest = r;
      for (int d = rank - 2; d >= 0; --d) {
        offset += (rest % out_shape[d]) * in_strides[perm[d]];
        rest /= out_shape[d];
      }
      float* dst = out + r * inner;
      if (inner_stride == 1) {
        std::memcpy(dst, x + offset, inner * sizeof(float));
      } else {
        for (int64_t i = 0; i < inner; ++i) dst[i] = x[offset + i * inner_stride];
      }
    }
  });
}

}  // namespace sseg
