// The kernel entry points the Node-API layer (addon.cc) exposes. All tensors are dense row-major float32.
#pragma once
#include <cstdint>

namespace sseg {

enum class Activation { kLinear = 0, kRelu = 1, kRelu6 = 2, kSigmoid = 3, kElu = 4, kLeakyRelu = 5 };

// C[i] = act(op(A[a_offset[i]]) · op(B[b_offset[i]]) + bias) for i < batch; op = transpose when flagged.
// Offsets are in elements; bias has bias_len ∈ {0, 1, N} values.
void gemm(const float* a, const float* b, float* c, int batch, const int64_t* a_offset, const int64_t* b_offset,
          int m, int n, int k, bool transpose_a, bool transpose_b, const float* bias, int bias_len,
          Activation act, float alpha);

// Rows [r0, r1) of C (=|+=) op(A) · op(B), single-threaded; and the whole product split across threads.
void gemm_rows_any(const float* a, const float* b, float* c, int m, int n, int k, bool transpose_a, bool transpose_b,
                   int r0, int r1, bool accumulate);
void gemm_threaded(const float* a, const float* b, float* c, int m, int n, int k, bool transpose_a,
                   bool transpose_b, bool accumulate);

// NHWC convolution geometry; filters are [kh, kw, in_c, out_c] as in TensorFlow.
struct ConvGeometry {
  int batch, in_h, in_w, in_c, out_h, out_w, out_c, k_h, k_w, stride_h, stride_w, pad_top, pad_left, dil_h, dil_w;
};

void conv2d(const float* x, const float* filter, float* y, const ConvGeometry& g);
void conv2d_backprop_input(const float* dy, const float* filter, float* dx, const ConvGeometry& g);
void conv2d_backprop_filter(const float* x, const float* dy, float* dfilter, const ConvGeometry& g);

// Depthwise, channel multiplier 1 (out_c == in_c): filter [k_h, k_w, in_c].
void depthwise_conv2d(const float* x, const float* filter, float* y, const ConvGeometry& g);
void depthwise_conv2d_backprop_input(const float* dy, const float* filter, float* dx, const ConvGeometry& g);
void depthwise_conv2d_backprop_filter(const float* x, const float* dy, float* dfilter, const ConvGeometry& g);

enum class BinaryOp { kAdd = 0, kSub, kMul, kDiv, kMax, kMin, kSquaredDifference, kPow };

// out[idx] = op(a[idx·a_strides], b[idx·b_strides]) over out_shape (rank ≥ 1; stride 0 broadcasts).
void binary(BinaryOp op, const float* a, const int64_t* a_strides, const float* b, const int64_t* b_strides,
            float* out, const int64_t* out_shape, int rank);

enum class UnaryOp {
  kExp = 0, kLog, kTanh, kSigmoid, kErf, kSqrt, kRsqrt, kSquare, kNeg, kAbs, kRelu, kReciprocal, kLog1p,
  kElu, kRelu6, kSin, kCos, kLeakyRelu
};

void unary(UnaryOp op, const float* x, float* out, int64_t n, float alpha);

// Row-wise softmax of a (rows, cols) matrix, and its gradient dx = y·(dy − Σ dy·y).
void softmax(const float* x, float* y, int64_t rows, int64_t cols);
void softmax_grad(const float* y, const float* dy, float* dx, int64_t rows, int64_t cols);

// out = x permuted: out_shape[i] = in_shape[perm[i]].
void transpose(const float* x, float* out, const int64_t* in_shape, const int* perm, int rank);

enum class ReduceOp { kSum = 0, kMean, kMax, kMin, kProd };

// out[o, i] = reduce over r of x[o, r, i] for a (outer, reduced, inner) view.
void reduce(ReduceOp op, const float* x, float* out, int64_t outer, int64_t reduced, int64_t inner);

// out[b, o, j, :] = x[b, o, indices[b, j], :] for a (batch, outer, dim, slice) x and (batch, per_batch) indices;
// every index must be in [0, dim).
void gather(const float* x, const int32_t* indices, float* out, int64_t batch, int64_t outer, int64_t dim,
            int64_t per_batch, int64_t slice);

// out[s, :] = Σ x[r, :] over rows r with ids[r] == s, in index order; rows with ids outside [0, num_segments)
// are dropped. x is (rows, inner), out (num_segments, inner).
void unsorted_segment_sum(const float* x, const int32_t* ids, float* out, int64_t rows, int64_t inner,
                          int64_t num_segments);

// LayerNorm over the last axis of a (rows, cols) x: y = (x − mean)·rstd·γ + β, with each row's mean and
// 1/√(var + eps) saved for the backward pass (biased variance, as torch).
void layer_norm(const float* x, const float* gamma, const float* beta, float* y, float* mean, float* rstd,
                int64_t rows, int64_t cols, float eps);
// Its gradient: dx, dγ = Σ_rows dy·x̂, dβ = Σ_rows dy; each output may be null (not computed).
void layer_norm_grad(const float* dy, const float* x, const float* gamma, const float* mean, const float* rstd,
                     float* dx, float* dgamma, float* dbeta, int64_t rows, int64_t cols);

// GroupNorm of channels-last x, y [batch, spatial, channels] (channels = groups·cg), mean/rstd [batch, groups],
// and its gradient (outputs may be null), as torch.nn.GroupNorm on NCHW.
void group_norm(const float* x, const float* gamma, const float* beta, float* y, float* mean, float* rstd,
                int64_t batch, int64_t spatial, int64_t channels, int64_t groups, float eps);
void group_norm_grad(const float* dy, const float* x, const float* gamma, const float* mean, const float* rstd,
                     float* dx, float* dgamma, float* dbeta, int64_t batch, int64_t spatial, int64_t channels,
                     int64_t groups);

// CLIP's QuickGELU x·σ(1.702x) and its gradient.
void quick_gelu(const float* x, float* y, int64_t n);
void quick_gelu_grad(const float* dy, const float* x, float* dx, int64_t n);

// Exact GELU x·Φ(x) and its gradient dy·(Φ(x) + x·φ(x)).
void gelu(const float* x, float* y, int64_t n);
void gelu_grad(const float* dy, const float* x, float* dx, int64_t n);
// min(max(x, 0), 6) and its gradient dy·[0 < x < 6], as tfjs's Relu6.
void relu6(const float* x, float* y, int64_t n);
void relu6_grad(const float* dy, const float* x, float* dx, int64_t n);

// Σ x² in double: fixed kSumChunk-element chunks, each summed in order, the chunk sums added in order.
constexpr int64_t kSumChunk = 65536;
double sum_of_squares(const float* x, int64_t n);

// One AdamW update's float32 constants (torch.optim.AdamW, computed in double by the caller, rounded once).
struct AdamWStep {
  bool scale_gradient;    // multiply the gradient by gradient_scale first (global-norm clipping)
  float gradient_scale;
  float beta1, one_minus_beta1, beta2, one_minus_beta2;
  bool decay;             // multiply the parameter by decay_factor = 1 − lr·weight_decay
  float decay_factor;
  float bias_correction2_sqrt;  // √(1 − β₂^step)
  float eps;
  float step_size;        // lr / (1 − β₁^step)
};

// In place, element by element: m ← β₁m + (1−β₁)g; v ← β₂v + (1−β₂)g²; p ← p·(1 − lr·wd) − (m / (√v / √bc₂ + ε))·step_size.
void adamw(float* param, const float* grad, float* exp_avg, float* exp_avg_sq, int64_t n, const AdamWStep& step);

}  // namespace sseg
