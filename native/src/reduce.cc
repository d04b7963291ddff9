// Reductions over the middle axis of an (outer, reduced, inner) view: rows (inner = 1) or columns.
#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <limits>

#include "deterministic.h"
#include "kernels.h"
#include "parallel.h"

namespace sseg {
namespace {

// tfjs's max/min let NaN win.
inline float max_nan(float a, float b) { return std::isnan(a) || std::isnan(b) ? NAN : (b > a ? b : a); }
inline float min_nan(float a, float b) { return std::isnan(a) || std::isnan(b) ? NAN : (b < a ? b : a); }

float reduce_row(ReduceOp op, const float* x, int64_t n) {
  switch (op) {
    case ReduceOp::kSum: return lane_sum(x, n);
    case ReduceOp::kMean: return lane_sum(x, n) / static_cast<float>(n);
    case ReduceOp::kProd: return lane_prod(x, n);
    case ReduceOp::kMax: {
      float m = x[0];
      for (int64_t i = 1; i < n; ++i) m = max_nan(m, x[i]);
      return m;
    }
    case ReduceOp::kMin: {
      float m = x[0];
      for (int64_t i = 1; i < n; ++i) m = min_nan(m, x[i]);
      return m;
    }
  }
  return 0.f;
}

// out[i] = reduce over r of x[r·stride + i] for i in [i0, i1), accumulating along rows (vectorisable).
void reduce_columns(ReduceOp op, const float* x, float* out, int64_t reduced, int64_t stride, int64_t i0,
                    int64_t i1) {
  std::copy(x + i0, x + i1, out + i0);
  for (int64_t r = 1; r < reduced; ++r) {
    const float* row = x + r * stride;
    switch (op) {
      case ReduceOp::kSum:
      case ReduceOp::kMean:
        for (int64_t i = i0; i < i1; ++i) out[i] += row[i];
        break;
      case ReduceOp::kProd:
        for (int64_t i = i0; i < i1; ++i) out[i] *= row[i];
        break;
      case ReduceOp::kMax:
        for (int64_t i = i0; i < i1; ++i) out[i] = max_nan(out[i], row[i]);
        break;
      case ReduceOp::kMin:
        for (int64_t i = i0; i < i1; ++i) out[i] = min_nan(out[i], row[i]);
        break;
    }
  }
  if (op == ReduceOp::kMean) {
    const float scale = 1.f / static_cast<float>(reduced);
    for (int64_t i = i0; i < i1; ++i) out[i] *= scale;
  }
}

}  // namespace

void reduce(ReduceOp op, const float* x, float* out, int64_t outer, int64_t reduced, int64_t inner) {
  const int64_t total = outer * reduced * inner;
  if (inner == 1) {
    parallel_for(outer, total, [&](int64_t o0, int64_t o1) {
      for (int64_t o = o0; o < o1; ++o) out[o] = reduce_row(op, x + o * reduced, reduced);
    });
  } else if (outer >= 2) {
    parallel_for(outer, total, [&](int64_t o0, int64_t o1) {
      for (int64_t o = o0; o < o1; ++o)
        reduce_columns(op, x + o * reduced * inner, out + o * inner, reduced, inner, 0, inner);
    });
  } else {
    // One (reduced, inner) slab: split the columns between threads.
    constexpr int64_t kChunk = 256;
    parallel_for((inner + kChunk - 1) / kChunk, total, [&](int64_t c0, int64_t c1) {
      reduce_columns(op, x, out, reduced, inner, c0 * kChunk, std::min(inner, c1 * kChunk));
    });
  }
}

}  // namespace sseg
