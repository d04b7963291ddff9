// Row gathers and their gradient, the unsorted segment sum. Each output row is written by one thread only and
// segment sums add their rows in index order, so results do not depend on the thread count.
#include <algorithm>

#include "kernels.h"
#include "parallel.h"

namespace sseg {
namespace {

// Column blocks for splitting few segments between threads: 64 floats, whole AVX-512 and AVX2 packets.
constexpr int64_t kColumnBlock = 64;
// From this many segments the threads split segment ranges instead (each still scans every id once).
constexpr int64_t kSegmentsToSplit = 16;

// Segments [s0, s1), columns [c0, c1) of out: zeroed, then x's rows added in index order.
void segment_sum_block(const float* x, const int32_t* ids, float* out, int64_t rows, int64_t inner, int64_t s0,
                       int64_t s1, int64_t c0, int64_t c1) {
  for (int64_t s = s0; s < s1; ++s) std::fill(out + s * inner + c0, out + s * inner + c1, 0.f);
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t s = ids[r];
    if (s < s0 || s >= s1) continue;  // another block's segment, or out of range (dropped as tfjs does)
    const float* src = x + r * inner;
    float* dst = out + s * inner;
    for (int64_t c = c0; c < c1; ++c) dst[c] += src[c];
  }
}

}  // namespace

void gather(const float* x, const int32_t* indices, float* out, int64_t batch, int64_t outer, int64_t dim,
            int64_t per_batch, int64_t slice) {
  const int64_t out_rows = batch * outer * per_batch;
  parallel_for(out_rows, out_rows * slice, [&](int64_t r0, int64_t r1) {
    for (int64_t r = r0; r < r1; ++r) {
      const int64_t j = r % per_batch, bo = r / per_batch, b = bo / outer;
      const float* src = x + (bo * dim + indices[b * per_batch + j]) * slice;
      std::copy(src, src + slice, out + r * slice);
    }
  });
}

void unsorted_segment_sum(const float* x, const int32_t* ids, float* out, int64_t rows, int64_t inner,
                          int64_t num_segments) {
  const int64_t work = (rows + num_segments) * inner;
  if (num_segments >= kSegmentsToSplit) {
    parallel_for(num_segments, work, [&](int64_t s0, int64_t s1) {
      segment_sum_block(x, ids, out, rows, inner, s0, s1, 0, inner);
    });
  } else {
    // Few segments (a batch summed into classes): split the columns instead.
    const int64_t blocks = (inner + kColumnBlock - 1) / kColumnBlock;
    parallel_for(blocks, work, [&](int64_t b0, int64_t b1) {
      segment_sum_block(x, ids, out, rows, inner, 0, num_segments, b0 * kColumnBlock,
                        std::min(inner, b1 * kColumnBlock));
    });
  }
}

}  // namespace sseg
