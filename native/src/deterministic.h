// Alignment-independent evaluation. Eigen peels the unaligned head and tail of a Map off to scalar code, whose
// exp/log/tanh differ from the packet versions in the last bit, and reduces sums in an alignment-dependent
// order; the same values in a differently aligned buffer (tfjs allocates afresh for every op) would then give
// different bits, and training would not repeat exactly. These helpers send every element through the packet
// path and sum in a fixed order, so results depend on the values only.
#pragma once
#include <Eigen/Core>
#include <algorithm>
#include <cstdint>

namespace sseg {

constexpr int64_t kLanes = 16;       // a whole number of packets for both AVX-512 (16) and AVX2 (8)
constexpr uintptr_t kAlignBytes = 64;

// out = f(x) element-wise, every element through Eigen's packet code: the head and tail (less than kLanes
// elements) in a zero-padded aligned block, the body on an aligned output.
template <typename F>
void apply_packets(const float* x, float* out, int64_t n, F&& f) {
  auto padded = [&](const float* in, float* o, int64_t len) {
    alignas(kAlignBytes) float block_in[kLanes] = {};
    alignas(kAlignBytes) float block_out[kLanes];
    std::copy(in, in + len, block_in);
    Eigen::Map<const Eigen::ArrayXf, Eigen::Aligned64> i(block_in, kLanes);
    Eigen::Map<Eigen::ArrayXf, Eigen::Aligned64> o2(block_out, kLanes);
    f(i, o2);
    std::copy(block_out, block_out + len, o);
  };
  const uintptr_t misalignment = reinterpret_cast<uintptr_t>(out) % kAlignBytes;
  int64_t head = misalignment == 0 ? 0 : static_cast<int64_t>((kAlignBytes - misalignment) / sizeof(float));
  if (misalignment % sizeof(float) != 0) head = n;  // never for float arrays; fall back to blocks throughout
  head = std::min(head, n);
  for (int64_t s = 0; s < head; s += kLanes) padded(x + s, out + s, std::min(kLanes, head - s));
  const int64_t body = (n - head) / kLanes * kLanes;
  if (body > 0) {
    Eigen::Map<const Eigen::ArrayXf> i(x + head, body);
    Eigen::Map<Eigen::ArrayXf, Eigen::Aligned64> o(out + head, body);
    f(i, o);
  }
  for (int64_t s = head + body; s < n; s += kLanes) padded(x + s, out + s, std::min(kLanes, n - s));
}

// Rows shorter than this are summed left to right, exactly as tfjs does (it matters when huge values cancel).
constexpr int64_t kSequentialBelow = 128;

// Σ x in a fixed order: kLanes running sums, then a fixed pairwise tree.
inline float lane_sum(const float* x, int64_t n) {
  if (n < kSequentialBelow) {
    float total = 0.f;
    for (int64_t i = 0; i < n; ++i) total += x[i];
    return total;
  }
  float acc[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int64_t j = 0; j < kLanes; ++j) acc[j] += x[i + j];
  for (int64_t j = 0; i + j < n; ++j) acc[j] += x[i + j];
  for (int64_t w = kLanes / 2; w > 0; w /= 2)
    for (int64_t j = 0; j < w; ++j) acc[j] += acc[j + w];
  return acc[0];
}

// Σ x·y in the same fixed order.
inline float lane_dot(const float* x, const float* y, int64_t n) {
  if (n < kSequentialBelow) {
    float total = 0.f;
    for (int64_t i = 0; i < n; ++i) total += x[i] * y[i];
    return total;
  }
  float acc[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int64_t j = 0; j < kLanes; ++j) acc[j] += x[i + j] * y[i + j];
  for (int64_t j = 0; i + j < n; ++j) acc[j] += x[i + j] * y[i + j];
  for (int64_t w = kLanes / 2; w > 0; w /= 2)
    for (int64_t j = 0; j < w; ++j) acc[j] += acc[j + w];
  return acc[0];
}

// Π x in the same fixed order.
inline float lane_prod(const float* x, int64_t n) {
  if (n < kSequentialBelow) {
    float total = 1.f;
    for (int64_t i = 0; i < n; ++i) total *= x[i];
    return total;
  }
  float acc[kLanes];
  std::fill(acc, acc + kLanes, 1.f);
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int64_t j = 0; j < kLanes; ++j) acc[j] *= x[i + j];
  for (int64_t j = 0; i + j < n; ++j) acc[j] *= x[i + j];
  for (int64_t w = kLanes / 2; w > 0; w /= 2)
    for (int64_t j = 0; j < w; ++j) acc[j] *= acc[j + w];
  return acc[0];
}

}  // namespace sseg
