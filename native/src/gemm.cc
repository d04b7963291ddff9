// Batched GEMM on Eigen's blocked kernels (single-threaded each), threaded by splitting batches or rows.
#include <Eigen/Core>
#include <algorithm>
#include <cmath>

#include "kernels.h"
#include "parallel.h"

namespace sseg {
namespace {

using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
using ConstMap = Eigen::Map<const RowMatrix>;
using Map = Eigen::Map<RowMatrix>;

void epilogue(float* row, int n, const float* bias, int bias_len, Activation act, float alpha) {
  if (bias_len == 1) {
    for (int j = 0; j < n; ++j) row[j] += bias[0];
  } else if (bias_len == n) {
    for (int j = 0; j < n; ++j) row[j] += bias[j];
  }
  switch (act) {
    case Activation::kLinear:
      break;
    case Activation::kRelu:
      for (int j = 0; j < n; ++j) row[j] = row[j] < 0.f ? 0.f : row[j];
      break;
    case Activation::kRelu6:
      for (int j = 0; j < n; ++j) row[j] = std::min(std::max(row[j], 0.f), 6.f);
      break;
    case Activation::kSigmoid:
      for (int j = 0; j < n; ++j) row[j] = 1.f / (1.f + std::exp(-row[j]));
      break;
    case Activation::kElu:
      for (int j = 0; j < n; ++j) row[j] = row[j] >= 0.f ? row[j] : std::expm1(row[j]);
      break;
    case Activation::kLeakyRelu:
      for (int j = 0; j < n; ++j) row[j] = row[j] < 0.f ? alpha * row[j] : row[j];
      break;
  }
}

template <typename Dst, typename Product>
void store(Dst&& dst, const Product& product, bool accumulate) {
  if (accumulate) dst.noalias() += product;
  else dst.noalias() = product;
}

// Rows [r0, r1) of C (=|+=) op(A) · op(B).
template <bool TA, bool TB>
void gemm_rows(const float* a, const float* b, float* c, int m, int n, int k, int r0, int r1, bool accumulate) {
  ConstMap A(a, TA ? k : m, TA ? m : k);
  ConstMap B(b, TB ? n : k, TB ? k : n);
  Map C(c, m, n);
  const int rows = r1 - r0;
  if constexpr (TA) {
    if constexpr (TB) store(C.middleRows(r0, rows), A.transpose().middleRows(r0, rows) * B.transpose(), accumulate);
    else store(C.middleRows(r0, rows), A.transpose().middleRows(r0, rows) * B, accumulate);
  } else {
    if constexpr (TB) store(C.middleRows(r0, rows), A.middleRows(r0, rows) * B.transpose(), accumulate);
    else store(C.middleRows(r0, rows), A.middleRows(r0, rows) * B, accumulate);
  }
}

}  // namespace

void gemm_rows_any(const float* a, const float* b, float* c, int m, int n, int k, bool ta, bool tb, int r0, int r1,
                   bool accumulate) {
  if (k == 0) {
    if (!accumulate) std::fill(c + static_cast<int64_t>(r0) * n, c + static_cast<int64_t>(r1) * n, 0.f);
    return;
  }
  if (ta) {
    tb ? gemm_rows<true, true>(a, b, c, m, n, k, r0, r1, accumulate)
       : gemm_rows<true, false>(a, b, c, m, n, k, r0, r1, accumulate);
  } else {
    tb ? gemm_rows<false, true>(a, b, c, m, n, k, r0, r1, accumulate)
       : gemm_rows<false, false>(a, b, c, m, n, k, r0, r1, accumulate);
  }
}

// Each row block re-packs the whole of op(B), so one block per thread: more blocks only repeat that work.
void gemm_threaded(const float* a, const float* b, float* c, int m, int n, int k, bool ta, bool tb, bool accumulate) {
  const int parts = std::max(1, m / 16);  // Eigen's packing makes row blocks of ≥ 16 worthwhile
  parallel_for(
      parts, static_cast<int64_t>(m) * n * std::max(k, 1) / 8,
      [&](int64_t p0, int64_t p1) {
        const int r0 = static_cast<int>(static_cast<int64_t>(m) * p0 / parts);
        const int r1 = static_cast<int>(static_cast<int64_t>(m) * p1 / parts);
        if (r1 > r0) gemm_rows_any(a, b, c, m, n, k, ta, tb, r0, r1, accumulate);
      },
      num_threads());
}

void gemm(const float* a, const float* b, float* c, int batch, const int64_t* a_offset, const int64_t* b_offset,
          int m, int n, int k, bool ta, bool tb, const float* bias, int bias_len, Activation act, float alpha) {
  const int64_t flops = static_cast<int64_t>(m) * n * std::max(k, 1);
  auto one = [&](int i, int r0, int r1) {
    float* ci = c + static_cast<int64_t>(i) * m * n;
    gemm_rows_any(a + a_offset[i], b + b_offset[i], ci, m, n, k, ta, tb, r0, r1, false);
    if (bias_len > 0 || act != Activation::kLinear) {
      for (int r = r0; r < r1; ++r) epilogue(ci + static_cast<int64_t>(r) * n, n, bias, bias_len, act, alpha);
    }
  };
  if (batch >= num_threads()) {
    parallel_for(batch, flops * batch / 8, [&](int64_t b0, int64_t b1) {
      for (int64_t i = b0; i < b1; ++i) one(static_cast<int>(i), 0, m);
    });
    return;
  }
  // Few large products: split each one's rows between threads, one block per thread (see gemm_threaded).
  const int parts = std::max(1, m / 16);
  for (int i = 0; i < batch; ++i) {
    parallel_for(
        parts, flops / 8,
        [&](int64_t p0, int64_t p1) {
          const int r0 = static_cast<int>(static_cast<int64_t>(m) * p0 / parts);
          const int r1 = static_cast<int>(static_cast<int64_t>(m) * p1 / parts);
          if (r1 > r0) one(i, r0, r1);
        },
        num_threads());
  }
}

}  // namespace sseg
