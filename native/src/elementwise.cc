// Element-wise kernels: broadcasting binary ops over strided views, and vectorised unary math (Eigen packets).
#include <Eigen/Core>
#include <unsupported/Eigen/SpecialFunctions>
#include <algorithm>
#include <cmath>

#include "deterministic.h"
#include "kernels.h"
#include "parallel.h"

namespace sseg {
namespace {

struct Add { static float f(float x, float y) { return x + y; } };
struct Sub { static float f(float x, float y) { return x - y; } };
struct Mul { static float f(float x, float y) { return x * y; } };
struct Div { static float f(float x, float y) { return x / y; } };
// tfjs propagates NaN through maximum/minimum.
struct Max { static float f(float x, float y) { return std::isnan(x) || std::isnan(y) ? NAN : (x > y ? x : y); } };
struct Min { static float f(float x, float y) { return std::isnan(x) || std::isnan(y) ? NAN : (x < y ? x : y); } };
struct SquaredDifference { static float f(float x, float y) { return (x - y) * (x - y); } };
// JavaScript's Math.pow gives NaN for pow(1, NaN) and pow(±1, ±Inf), where C's pow gives 1.
struct Pow {
  static float f(float x, float y) {
    if (std::isnan(y) || (std::isinf(y) && std::fabs(x) == 1.f)) return NAN;
    return std::pow(x, y);
  }
};

// One innermost run of length n with element strides sa, sb ∈ {0, 1} specialised (the common cases).
template <typename Op>
inline void run(const float* a, int64_t sa, const float* b, int64_t sb, float* out, int64_t n) {
  if (sa == 1 && sb == 1) {
    for (int64_t i = 0; i < n; ++i) out[i] = Op::f(a[i], b[i]);
  } else if (sa == 1 && sb == 0) {
    const float y = b[0];
    for (int64_t i = 0; i < n; ++i) out[i] = Op::f(a[i], y);
  } else if (sa == 0 && sb == 1) {
    const float x = a[0];
    for (int64_t i = 0; i < n; ++i) out[i] = Op::f(x, b[i]);
  } else {
    for (int64_t i = 0; i < n; ++i) out[i] = Op::f(a[i * sa], b[i * sb]);
  }
}

template <typename Op>
void binary_impl(const float* a, const int64_t* as, const float* b, const int64_t* bs, float* out,
                 const int64_t* shape, int rank) {
  const int64_t inner = shape[rank - 1];
  int64_t rows = 1;
  for (int d = 0; d < rank - 1; ++d) rows *= shape[d];
  // Work units are (row, slice of the row), so one long row is shared between threads too.
  constexpr int64_t kSlice = 16384;
  const int64_t slices = (inner + kSlice - 1) / kSlice;
  const int64_t sa = as[rank - 1], sb = bs[rank - 1];
  parallel_for(rows * slices, rows * inner, [&](int64_t u0, int64_t u1) {
    for (int64_t u = u0; u < u1; ++u) {
      const int64_t r = u / slices, begin = (u % slices) * kSlice, len = std::min(kSlice, inner - begin);
      int64_t oa = 0, ob = 0, rest = r;
      for (int d = rank - 2; d >= 0; --d) {  // row index → offsets in a and b
        const int64_t idx = rest % shape[d];
        rest /= shape[d];
        oa += idx * as[d];
        ob += idx * bs[d];
      }
      run<Op>(a + oa + begin * sa, sa, b + ob + begin * sb, sb, out + r * inner + begin, len);
    }
  });
}

template <typename F>
void unary_parallel(const float* x, float* out, int64_t n, F&& f) {
  parallel_for((n + 4095) / 4096, n * 4, [&](int64_t c0, int64_t c1) {
    const int64_t begin = c0 * 4096, end = std::min(n, c1 * 4096);
    apply_packets(x + begin, out + begin, end - begin, f);
  });
}

}  // namespace

void binary(BinaryOp op, const float* a, const int64_t* as, const float* b, const int64_t* bs, float* out,
            const int64_t* shape, int rank) {
  switch (op) {
    case BinaryOp::kAdd: return binary_impl<Add>(a, as, b, bs, out, shape, rank);
    case BinaryOp::kSub: return binary_impl<Sub>(a, as, b, bs, out, shape, rank);
    case BinaryOp::kMul: return binary_impl<Mul>(a, as, b, bs, out, shape, rank);
    case BinaryOp::kDiv: return binary_impl<Div>(a, as, b, bs, out, shape, rank);
    case BinaryOp::kMax: return binary_impl<Max>(a, as, b, bs, out, shape, rank);
    case BinaryOp::kMin: return binary_impl<Min>(a, as, b, bs, out, shape, rank);
    case BinaryOp::kSquaredDifference: return binary_impl<SquaredDifference>(a, as, b, bs, out, shape, rank);
    case BinaryOp::kPow: return binary_impl<Pow>(a, as, b, bs, out, shape, rank);
  }
}

void unary(UnaryOp op, const float* x, float* out, int64_t n, float alpha) {
  using A = Eigen::ArrayXf;
  switch (op) {
    case UnaryOp::kExp: return unary_parallel(x, out, n, [](auto& i, auto& o) { o = i.exp(); });
    case UnaryOp::kLog: return unary_parallel(x, out, n, [](auto& i, auto& o) { o = i.log(); });
    case UnaryOp::kTanh: return unary_parallel(x, out, n, [](auto& i, auto& o) { o = i.tanh(); });
    case UnaryOp::kSigmoid: return unary_parallel(x, out, n, [](auto& i, auto& o) { o = i.logistic(); });
    case UnaryOp::kErf: return unary_parallel(x, out, n, [](auto& i, auto& o) { o = i.erf(); });
    case UnaryOp::kSqrt: return unary_parallel(x, out, n, [](auto& i, auto& o) { o = i.sqrt(); });
    case UnaryOp::kRsqrt: return unary_parallel(x, out, n, [](auto& i, auto& o) { o = i.sqrt().inverse(); });
    case UnaryOp::kSquare: return unary_parallel(x, out, n, [](auto& i, auto& o) { o = i.square(); });
    case UnaryOp::kNeg: return unary_parallel(x, out, n, [](auto& i, auto& o) { o = -i; });
    case UnaryOp::kAbs: return unary_parallel(x, out, n, [](auto& i, auto& o) { o = i.abs(); });
    case UnaryOp::kRelu:
      return unary_parallel(x, out, n, [](auto& i, auto& o) { o = (i < 0.f).select(A::Zero(i.size()), i); });
    case UnaryOp::kReciprocal: return unary_parallel(x, out, n, [](auto& i, auto& o) { o = i.inverse(); });
    case UnaryOp::kLog1p: return unary_parallel(x, out, n, [](auto& i, auto& o) { o = i.log1p(); });
    case UnaryOp::kElu:
      return unary_parallel(x, out, n, [](auto& i, auto& o) { o = (i >= 0.f).select(i, i.expm1()); });
    case UnaryOp::kRelu6:
      return unary_parallel(x, out, n, [](auto& i, auto& o) { o = i.max(0.f).min(6.f); });
    case UnaryOp::kSin: return unary_parallel(x, out, n, [](auto& i, auto& o) { o = i.sin(); });
    case UnaryOp::kCos: return unary_parallel(x, out, n, [](auto& i, auto& o) { o = i.cos(); });
    case UnaryOp::kLeakyRelu:
      return unary_parallel(x, out, n, [alpha](auto& i, auto& o) { o = (i < 0.f).select(i * alpha, i); });
  }
}

}  // namespace sseg
