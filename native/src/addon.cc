// Node-API surface of the kernel pack: argument checking and dispatch only. Every length is validated here
// so a wrong call from JavaScript throws instead of reading or writing out of bounds.
#include <malloc.h>
#include <node_api.h>

#include <string>
#include <vector>

#include "kernels.h"
#include "parallel.h"

namespace {

struct ArgError {
  std::string message;
};

class Args {
 public:
  Args(napi_env env, napi_callback_info info, size_t expected) : env_(env), values_(expected) {
    size_t argc = expected;
    napi_get_cb_info(env, info, &argc, values_.data(), nullptr, nullptr);
    if (argc < expected) throw ArgError{"expected " + std::to_string(expected) + " arguments"};
  }

  template <typename T>
  T* typed(size_t i, napi_typedarray_type type, size_t* length, bool nullable = false) {
    napi_valuetype vt;
    napi_typeof(env_, values_[i], &vt);
    if (nullable && (vt == napi_null || vt == napi_undefined)) {
      *length = 0;
      return nullptr;
    }
    bool is_typed = false;
    napi_is_typedarray(env_, values_[i], &is_typed);
    if (!is_typed) throw ArgError{"argument " + std::to_string(i) + " must be a typed array"};
    napi_typedarray_type actual;
    void* data;
    napi_get_typedarray_info(env_, values_[i], &actual, length, &data, nullptr, nullptr);
    if (actual != type) throw ArgError{"argument " + std::to_string(i) + " has the wrong typed-array type"};
    return static_cast<T*>(data);
  }
  float* floats(size_t i, size_t* length, bool nullable = false) {
    return typed<float>(i, napi_float32_array, length, nullable);
  }
  const int32_t* int32s(size_t i, size_t* length) { return typed<int32_t>(i, napi_int32_array, length); }
  std::vector<int64_t> ints(size_t i) {
    size_t length;
    const int32_t* p = typed<int32_t>(i, napi_int32_array, &length);
    return std::vector<int64_t>(p, p + length);
  }
  int64_t integer(size_t i) {
    int64_t v;
    if (napi_get_value_int64(env_, values_[i], &v) != napi_ok)
      throw ArgError{"argument " + std::to_string(i) + " must be a number"};
    return v;
  }
  double number(size_t i) {
    double v;
    if (napi_get_value_double(env_, values_[i], &v) != napi_ok)
      throw ArgError{"argument " + std::to_string(i) + " must be a number"};
    return v;
  }
  bool flag(size_t i) {
    bool v;
    if (napi_get_value_bool(env_, values_[i], &v) != napi_ok)
      throw ArgError{"argument " + std::to_string(i) + " must be a boolean"};
    return v;
  }

 private:
  napi_env env_;
  std::vector<napi_value> values_;
};

void require(bool ok, const std::string& what) {
  if (!ok) throw ArgError{what};
}

template <typename F>
napi_value guarded(napi_env env, const char* name, F&& body) {
  try {
    return body();
  } catch (const ArgError& e) {
    napi_throw_range_error(env, nullptr, (std::string("sseg native ") + name + ": " + e.message).c_str());
  } catch (const std::exception& e) {
    napi_throw_error(env, nullptr, (std::string("sseg native ") + name + ": " + e.what()).c_str());
  }
  return nullptr;
}

napi_value undefined(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

// gemm(a, b, out, aOffsets, bOffsets, m, n, k, transposeA, transposeB, bias|null, activation, alpha)
napi_value Gemm(napi_env env, napi_callback_info info) {
  return guarded(env, "gemm", [&] {
    Args args(env, info, 13);
    size_t la, lb, lc, lbias;
    const float* a = args.floats(0, &la);
    const float* b = args.floats(1, &lb);
    float* c = args.floats(2, &lc);
    const auto a_off = args.ints(3), b_off = args.ints(4);
    const int64_t m = args.integer(5), n = args.integer(6), k = args.integer(7);
    const bool ta = args.flag(8), tb = args.flag(9);
    const float* bias = args.floats(10, &lbias, true);
    const int64_t act = args.integer(11);
    const float alpha = static_cast<float>(args.number(12));
    const size_t batch = a_off.size();
    require(m >= 0 && n >= 0 && k >= 0, "negative size");
    require(b_off.size() == batch, "offset arrays differ in length");
    require(lc == batch * m * n, "output length is not batch·m·n");
    for (size_t i = 0; i < batch; ++i) {
      require(a_off[i] >= 0 && static_cast<size_t>(a_off[i] + m * k) <= la, "A offset out of range");
      require(b_off[i] >= 0 && static_cast<size_t>(b_off[i] + k * n) <= lb, "B offset out of range");
    }
    require(lbias == 0 || lbias == 1 || static_cast<int64_t>(lbias) == n, "bias must have 1 or n values");
    require(act >= 0 && act <= 5, "unknown activation");
    sseg::gemm(a, b, c, static_cast<int>(batch), a_off.data(), b_off.data(), static_cast<int>(m),
               static_cast<int>(n), static_cast<int>(k), ta, tb, bias, static_cast<int>(lbias),
               static_cast<sseg::Activation>(act), alpha);
    return undefined(env);
  });
}

// Largest element offset a strided view reaches, to bound-check it against its buffer.
int64_t max_offset(const std::vector<int64_t>& shape, const std::vector<int64_t>& strides) {
  int64_t off = 0;
  for (size_t d = 0; d < shape.size(); ++d) {
    if (strides[d] < 0) throw ArgError{"negative stride"};
    off += (shape[d] - 1) * strides[d];
  }
  return off;
}

// binary(op, a, aStrides, b, bStrides, out, shape)
napi_value Binary(napi_env env, napi_callback_info info) {
  return guarded(env, "binary", [&] {
    Args args(env, info, 7);
    const int64_t op = args.integer(0);
    size_t la, lb, lo;
    const float* a = args.floats(1, &la);
    const auto as = args.ints(2);
    const float* b = args.floats(3, &lb);
    const auto bs = args.ints(4);
    float* out = args.floats(5, &lo);
    const auto shape = args.ints(6);
    const size_t rank = shape.size();
    require(rank >= 1 && as.size() == rank && bs.size() == rank, "shape and strides differ in rank");
    int64_t total = 1;
    for (int64_t d : shape) {
      require(d >= 1, "empty or negative dimension");
      total *= d;
    }
    require(static_cast<size_t>(total) == lo, "output length does not match the shape");
    require(static_cast<size_t>(max_offset(shape, as)) < la, "A strides run past its end");
    require(static_cast<size_t>(max_offset(shape, bs)) < lb, "B strides run past its end");
    require(op >= 0 && op <= 7, "unknown binary op");
    sseg::binary(static_cast<sseg::BinaryOp>(op), a, as.data(), b, bs.data(), out, shape.data(),
                 static_cast<int>(rank));
    return undefined(env);
  });
}

// unary(op, x, out, alpha)
napi_value Unary(napi_env env, napi_callback_info info) {
  return guarded(env, "unary", [&] {
    Args args(env, info, 4);
    const int64_t op = args.integer(0);
    size_t lx, lo;
    const float* x = args.floats(1, &lx);
    float* out = args.floats(2, &lo);
    require(lx == lo, "input and output lengths differ");
    require(op >= 0 && op <= 17, "unknown unary op");
    sseg::unary(static_cast<sseg::UnaryOp>(op), x, out, static_cast<int64_t>(lx), static_cast<float>(args.number(3)));
    return undefined(env);
  });
}

// softmax(x, out, rows, cols)
napi_value Softmax(napi_env env, napi_callback_info info) {
  return guarded(env, "softmax", [&] {
    Args args(env, info, 4);
    size_t lx, lo;
    const float* x = args.floats(0, &lx);
    float* out = args.floats(1, &lo);
    const int64_t rows = args.integer(2), cols = args.integer(3);
    require(rows >= 0 && cols >= 1 && static_cast<size_t>(rows * cols) == lx && lx == lo, "lengths do not match rows·cols");
    sseg::softmax(x, out, rows, cols);
    return undefined(env);
  });
}

// softmaxGrad(y, dy, dx, rows, cols)
napi_value SoftmaxGrad(napi_env env, napi_callback_info info) {
  return guarded(env, "softmaxGrad", [&] {
    Args args(env, info, 5);
    size_t ly, ldy, ldx;
    const float* y = args.floats(0, &ly);
    const float* dy = args.floats(1, &ldy);
    float* dx = args.floats(2, &ldx);
    const int64_t rows = args.integer(3), cols = args.integer(4);
    require(rows >= 0 && cols >= 1 && static_cast<size_t>(rows * cols) == ly && ly == ldy && ly == ldx,
            "lengths do not match rows·cols");
    sseg::softmax_grad(y, dy, dx, rows, cols);
    return undefined(env);
  });
}

// transpose(x, out, shape, perm)
napi_value Transpose(napi_env env, napi_callback_info info) {
  return guarded(env, "transpose", [&] {
    Args args(env, info, 4);
    size_t lx, lo;
    const float* x = args.floats(0, &lx);
    float* out = args.floats(1, &lo);
    const auto shape = args.ints(2), perm64 = args.ints(3);
    const size_t rank = shape.size();
    require(rank >= 1 && perm64.size() == rank, "perm and shape differ in rank");
    std::vector<int> perm(rank);
    std::vector<bool> seen(rank, false);
    int64_t total = 1;
    for (size_t d = 0; d < rank; ++d) {
      require(perm64[d] >= 0 && static_cast<size_t>(perm64[d]) < rank && !seen[perm64[d]], "perm is not a permutation");
      seen[perm64[d]] = true;
      perm[d] = static_cast<int>(perm64[d]);
      require(shape[d] >= 0, "negative dimension");
      total *= shape[d];
    }
    require(static_cast<size_t>(total) == lx && lx == lo, "lengths do not match the shape");
    sseg::transpose(x, out, shape.data(), perm.data(), static_cast<int>(rank));
    return undefined(env);
  });
}

// reduce(op, x, out, outer, reduced, inner)
napi_value Reduce(napi_env env, napi_callback_info info) {
  return guarded(env, "reduce", [&] {
    Args args(env, info, 6);
    const int64_t op = args.integer(0);
    size_t lx, lo;
    const float* x = args.floats(1, &lx);
    float* out = args.floats(2, &lo);
    const int64_t outer = args.integer(3), reduced = args.integer(4), inner = args.integer(5);
    require(outer >= 0 && reduced >= 1 && inner >= 0, "bad reduction sizes");
    require(static_cast<size_t>(outer * reduced * inner) == lx && static_cast<size_t>(outer * inner) == lo,
            "lengths do not match outer·reduced·inner");
    require(op >= 0 && op <= 4, "unknown reduction");
    sseg::reduce(static_cast<sseg::ReduceOp>(op), x, out, outer, reduced, inner);
    return undefined(env);
  });
}

// gather(x, indices, out, batch, outer, dim, slice): x is (batch, outer, dim, slice), indices (batch, perBatch).
napi_value Gather(napi_env env, napi_callback_info info) {
  return guarded(env, "gather", [&] {
    Args args(env, info, 7);
    size_t lx, li, lo;
    const float* x = args.floats(0, &lx);
    const int32_t* indices = args.int32s(1, &li);
    float* out = args.floats(2, &lo);
    const int64_t batch = args.integer(3), outer = args.integer(4), dim = args.integer(5), slice = args.integer(6);
    require(batch >= 1 && outer >= 0 && dim >= 1 && slice >= 0, "bad gather sizes");
    require(li % batch == 0, "indices do not split into batch rows");
    const int64_t per_batch = static_cast<int64_t>(li) / batch;
    require(static_cast<size_t>(batch * outer * dim * slice) == lx, "x length is not batch·outer·dim·slice");
    require(static_cast<size_t>(batch * outer * per_batch * slice) == lo,
            "output length is not batch·outer·indices per batch·slice");
    for (size_t i = 0; i < li; ++i) require(indices[i] >= 0 && indices[i] < dim, "index out of range");
    sseg::gather(x, indices, out, batch, outer, dim, per_batch, slice);
    return undefined(env);
  });
}

// unsortedSegmentSum(x, segmentIds, out, numSegments, inner): x is (ids, inner), out (numSegments, inner).
napi_value UnsortedSegmentSum(napi_env env, napi_callback_info info) {
  return guarded(env, "unsortedSegmentSum", [&] {
    Args args(env, info, 5);
    size_t lx, lids, lo;
    const float* x = args.floats(0, &lx);
    const int32_t* ids = args.int32s(1, &lids);
    float* out = args.floats(2, &lo);
    const int64_t num_segments = args.integer(3), inner = args.integer(4);
    require(num_segments >= 0 && inner >= 1, "bad segment sizes");
    require(static_cast<size_t>(inner) * lids == lx, "x length is not segment ids·inner");
    require(static_cast<size_t>(num_segments * inner) == lo, "output length is not numSegments·inner");
    // Ids outside [0, numSegments) are valid input: their rows are dropped.
    sseg::unsorted_segment_sum(x, ids, out, static_cast<int64_t>(lids), inner, num_segments);
    return undefined(env);
  });
}

// Geometry array: batch, in_h, in_w, in_c, out_h, out_w, out_c, k_h, k_w, stride_h, stride_w, pad_top, pad_left,
// dil_h, dil_w.
sseg::ConvGeometry geometry(const std::vector<int64_t>& v) {
  require(v.size() == 15, "geometry must have 15 entries");
  for (size_t i = 0; i < 15; ++i) require(i >= 11 && i <= 12 ? v[i] >= 0 : v[i] >= 1, "geometry entry out of range");
  return {static_cast<int>(v[0]), static_cast<int>(v[1]), static_cast<int>(v[2]), static_cast<int>(v[3]),
          static_cast<int>(v[4]), static_cast<int>(v[5]), static_cast<int>(v[6]), static_cast<int>(v[7]),
          static_cast<int>(v[8]), static_cast<int>(v[9]), static_cast<int>(v[10]), static_cast<int>(v[11]),
          static_cast<int>(v[12]), static_cast<int>(v[13]), static_cast<int>(v[14])};
}

size_t input_size(const sseg::ConvGeometry& g) { return static_cast<size_t>(g.batch) * g.in_h * g.in_w * g.in_c; }
size_t output_size(const sseg::ConvGeometry& g) { return static_cast<size_t>(g.batch) * g.out_h * g.out_w * g.out_c; }
size_t filter_size(const sseg::ConvGeometry& g) { return static_cast<size_t>(g.k_h) * g.k_w * g.in_c * g.out_c; }

// conv2d(x, filter, y, geometry) / conv2dBackpropInput(dy, filter, dx, geometry) /
// conv2dBackpropFilter(x, dy, dfilter, geometry): the three arrays' expected sizes, in argument order.
template <void (*Kernel)(const float*, const float*, float*, const sseg::ConvGeometry&)>
napi_value Conv(napi_env env, napi_callback_info info, const char* name,
                size_t (*size0)(const sseg::ConvGeometry&), size_t (*size1)(const sseg::ConvGeometry&),
                size_t (*size2)(const sseg::ConvGeometry&), bool depthwise = false) {
  return guarded(env, name, [&] {
    Args args(env, info, 4);
    size_t l0, l1, l2;
    const float* a = args.floats(0, &l0);
    const float* b = args.floats(1, &l1);
    float* out = args.floats(2, &l2);
    const sseg::ConvGeometry g = geometry(args.ints(3));
    require(!depthwise || g.out_c == g.in_c, "depthwise convolutions take a channel multiplier of 1");
    require(l0 == size0(g) && l1 == size1(g) && l2 == size2(g), "array lengths do not match the geometry");
    Kernel(a, b, out, g);
    return undefined(env);
  });
}

napi_value Conv2d(napi_env env, napi_callback_info info) {
  return Conv<sseg::conv2d>(env, info, "conv2d", input_size, filter_size, output_size);
}
napi_value Conv2dBackpropInput(napi_env env, napi_callback_info info) {
  return Conv<sseg::conv2d_backprop_input>(env, info, "conv2dBackpropInput", output_size, filter_size, input_size);
}
napi_value Conv2dBackpropFilter(napi_env env, napi_callback_info info) {
  return Conv<sseg::conv2d_backprop_filter>(env, info, "conv2dBackpropFilter", input_size, output_size, filter_size);
}

// The depthwise three take the same geometry with out_c == in_c; the filter is [k_h, k_w, in_c].
size_t depthwise_filter_size(const sseg::ConvGeometry& g) { return static_cast<size_t>(g.k_h) * g.k_w * g.in_c; }
napi_value DepthwiseConv2d(napi_env env, napi_callback_info info) {
  return Conv<sseg::depthwise_conv2d>(env, info, "depthwiseConv2d", input_size, depthwise_filter_size, output_size,
                                      true);
}
napi_value DepthwiseConv2dBackpropInput(napi_env env, napi_callback_info info) {
  return Conv<sseg::depthwise_conv2d_backprop_input>(env, info, "depthwiseConv2dBackpropInput", output_size,
                                                     depthwise_filter_size, input_size, true);
}
napi_value DepthwiseConv2dBackpropFilter(napi_env env, napi_callback_info info) {
  return Conv<sseg::depthwise_conv2d_backprop_filter>(env, info, "depthwiseConv2dBackpropFilter", input_size,
                                                      output_size, depthwise_filter_size, true);
}

// The first six arguments of both normalisations: x, gamma, beta, y, mean, rstd; `stats` is how many (mean, rstd)
// pairs the caller's geometry has.
struct NormArgs {
  const float *x, *gamma, *beta;
  float *y, *mean, *rstd;
  size_t x_length, channels, stats;
};

NormArgs norm_args(Args& args) {
  NormArgs a{};
  size_t lb, ly, ls;
  a.x = args.floats(0, &a.x_length);
  a.gamma = args.floats(1, &a.channels);
  a.beta = args.floats(2, &lb);
  a.y = args.floats(3, &ly);
  a.mean = args.floats(4, &a.stats);
  a.rstd = args.floats(5, &ls);
  require(a.channels >= 1 && lb == a.channels && a.x_length % a.channels == 0,
          "x is not [.., channels] for gamma and beta of channels values");
  require(ly == a.x_length && ls == a.stats, "y, mean or rstd has the wrong length");
  return a;
}

// layerNorm(x, gamma, beta, y, mean, rstd, eps): x and y (rows, cols), gamma/beta (cols), mean/rstd (rows)
napi_value LayerNorm(napi_env env, napi_callback_info info) {
  return guarded(env, "layerNorm", [&] {
    Args args(env, info, 7);
    const NormArgs a = norm_args(args);
    const size_t rows = a.x_length / a.channels;
    require(a.stats == rows, "mean and rstd must have one value per row");
    sseg::layer_norm(a.x, a.gamma, a.beta, a.y, a.mean, a.rstd, static_cast<int64_t>(rows),
                     static_cast<int64_t>(a.channels), static_cast<float>(args.number(6)));
    return undefined(env);
  });
}

// The first eight arguments of both normalisations' gradients: dy, x, gamma, mean, rstd, dx|null, dgamma|null,
// dbeta|null; `stats` is how many (mean, rstd) pairs the caller's geometry has.
struct NormGradArgs {
  const float *dy, *x, *gamma, *mean, *rstd;
  float *dx, *dgamma, *dbeta;
  size_t x_length, channels, stats;
};

NormGradArgs norm_grad_args(Args& args) {
  NormGradArgs a{};
  size_t ldy, ls, ldx, ldg, ldb;
  a.dy = args.floats(0, &ldy);
  a.x = args.floats(1, &a.x_length);
  a.gamma = args.floats(2, &a.channels);
  a.mean = args.floats(3, &a.stats);
  a.rstd = args.floats(4, &ls);
  a.dx = args.floats(5, &ldx, true);
  a.dgamma = args.floats(6, &ldg, true);
  a.dbeta = args.floats(7, &ldb, true);
  require(a.channels >= 1 && a.x_length % a.channels == 0 && ldy == a.x_length, "dy and x must be [.., channels]");
  require(ls == a.stats, "mean and rstd differ in length");
  require((!a.dx || ldx == a.x_length) && (!a.dgamma || ldg == a.channels) && (!a.dbeta || ldb == a.channels),
          "an output has the wrong length");
  return a;
}

// layerNormGrad(dy, x, gamma, mean, rstd, dx|null, dgamma|null, dbeta|null)
napi_value LayerNormGrad(napi_env env, napi_callback_info info) {
  return guarded(env, "layerNormGrad", [&] {
    Args args(env, info, 8);
    const NormGradArgs a = norm_grad_args(args);
    const size_t rows = a.x_length / a.channels;
    require(a.stats == rows, "mean and rstd must have one value per row");
    sseg::layer_norm_grad(a.dy, a.x, a.gamma, a.mean, a.rstd, a.dx, a.dgamma, a.dbeta, static_cast<int64_t>(rows),
                          static_cast<int64_t>(a.channels));
    return undefined(env);
  });
}

// activation(kind, x, y) and activationGrad(kind, dy, x, dx): 0 = exact GELU, 1 = QuickGELU
napi_value Activation(napi_env env, napi_callback_info info) {
  return guarded(env, "activation", [&] {
    Args args(env, info, 3);
    size_t lx, ly;
    const int64_t kind = args.integer(0);
    const float* x = args.floats(1, &lx);
    float* y = args.floats(2, &ly);
    require(kind >= 0 && kind <= 2, "unknown activation");
    require(lx == ly, "x and y differ in length");
    const decltype(&sseg::gelu) kernels[] = {sseg::gelu, sseg::quick_gelu, sseg::relu6};
    kernels[kind](x, y, static_cast<int64_t>(lx));
    return undefined(env);
  });
}

napi_value ActivationGrad(napi_env env, napi_callback_info info) {
  return guarded(env, "activationGrad", [&] {
    Args args(env, info, 4);
    size_t ldy, lx, ldx;
    const int64_t kind = args.integer(0);
    const float* dy = args.floats(1, &ldy);
    const float* x = args.floats(2, &lx);
    float* dx = args.floats(3, &ldx);
    require(kind >= 0 && kind <= 2, "unknown activation");
    require(ldy == lx && ldx == lx, "dy, x and dx differ in length");
    const decltype(&sseg::gelu_grad) kernels[] = {sseg::gelu_grad, sseg::quick_gelu_grad, sseg::relu6_grad};
    kernels[kind](dy, x, dx, static_cast<int64_t>(lx));
    return undefined(env);
  });
}

// groupNorm(x, gamma, beta, y, mean, rstd, batch, groups, eps): x, y [batch, spatial, channels]
napi_value GroupNorm(napi_env env, napi_callback_info info) {
  return guarded(env, "groupNorm", [&] {
    Args args(env, info, 9);
    const NormArgs a = norm_args(args);
    const int64_t batch = args.integer(6), groups = args.integer(7);
    const int64_t channels = static_cast<int64_t>(a.channels);
    require(batch >= 1 && groups >= 1 && channels % groups == 0, "channels must be a multiple of groups");
    require(a.x_length % static_cast<size_t>(batch * channels) == 0, "x must be [batch, spatial, channels]");
    require(a.stats == static_cast<size_t>(batch * groups), "mean and rstd must have batch·groups values");
    sseg::group_norm(a.x, a.gamma, a.beta, a.y, a.mean, a.rstd, batch,
                     static_cast<int64_t>(a.x_length) / (batch * channels), channels, groups,
                     static_cast<float>(args.number(8)));
    return undefined(env);
  });
}

// groupNormGrad(dy, x, gamma, mean, rstd, dx|null, dgamma|null, dbeta|null, batch, groups)
napi_value GroupNormGrad(napi_env env, napi_callback_info info) {
  return guarded(env, "groupNormGrad", [&] {
    Args args(env, info, 10);
    const NormGradArgs a = norm_grad_args(args);
    const int64_t batch = args.integer(8), groups = args.integer(9);
    const int64_t channels = static_cast<int64_t>(a.channels);
    require(batch >= 1 && groups >= 1 && channels % groups == 0, "channels must be a multiple of groups");
    require(a.x_length % static_cast<size_t>(batch * channels) == 0, "x must be [batch, spatial, channels]");
    require(a.stats == static_cast<size_t>(batch * groups), "mean and rstd must have batch·groups values");
    sseg::group_norm_grad(a.dy, a.x, a.gamma, a.mean, a.rstd, a.dx, a.dgamma, a.dbeta, batch,
                          static_cast<int64_t>(a.x_length) / (batch * channels), channels, groups);
    return undefined(env);
  });
}

// sumOfSquares(x) → Σ x² as a double
napi_value SumOfSquares(napi_env env, napi_callback_info info) {
  return guarded(env, "sumOfSquares", [&] {
    Args args(env, info, 1);
    size_t n;
    const float* x = args.floats(0, &n);
    napi_value result;
    napi_create_double(env, sseg::sum_of_squares(x, static_cast<int64_t>(n)), &result);
    return result;
  });
}

// adamw(param, grad, expAvg, expAvgSq, gradientScale, beta1, beta2, decayFactor, biasCorrection2Sqrt, eps, stepSize)
// gradientScale 1 and decayFactor 1 mean none; 1 − β is formed here in double, as JavaScript forms it.
napi_value AdamW(napi_env env, napi_callback_info info) {
  return guarded(env, "adamw", [&] {
    Args args(env, info, 11);
    size_t lp, lg, lm, lv;
    float* param = args.floats(0, &lp);
    const float* grad = args.floats(1, &lg);
    float* m = args.floats(2, &lm);
    float* v = args.floats(3, &lv);
    require(lg == lp && lm == lp && lv == lp, "parameter, gradient and moments differ in length");
    const double scale = args.number(4), beta1 = args.number(5), beta2 = args.number(6), decay = args.number(7);
    sseg::AdamWStep s{};
    s.scale_gradient = scale != 1.0;
    s.gradient_scale = static_cast<float>(scale);
    s.beta1 = static_cast<float>(beta1);
    s.one_minus_beta1 = static_cast<float>(1.0 - beta1);
    s.beta2 = static_cast<float>(beta2);
    s.one_minus_beta2 = static_cast<float>(1.0 - beta2);
    s.decay = decay != 1.0;
    s.decay_factor = static_cast<float>(decay);
    s.bias_correction2_sqrt = static_cast<float>(args.number(8));
    s.eps = static_cast<float>(args.number(9));
    s.step_size = static_cast<float>(args.number(10));
    sseg::adamw(param, grad, m, v, static_cast<int64_t>(lp), s);
    return undefined(env);
  });
}

napi_value SetNumThreads(napi_env env, napi_callback_info info) {
  return guarded(env, "setNumThreads", [&] {
    Args args(env, info, 1);
    const int64_t n = args.integer(0);
    require(n >= 1 && n <= 64, "threads must be in 1..64");
    sseg::set_num_threads(static_cast<int>(n));
    return undefined(env);
  });
}

napi_value NumThreads(napi_env env, napi_callback_info) {
  napi_value v;
  napi_create_int32(env, sseg::num_threads(), &v);
  return v;
}

}  // namespace

NAPI_MODULE_INIT() {
  // Tensors are freed and re-allocated at the same sizes every step; serving them from the heap instead of
  // fresh mmap'd pages saves a page fault per 4 KB (about a third of an element-wise op's time).
  mallopt(M_MMAP_THRESHOLD, 1 << 30);
  mallopt(M_TRIM_THRESHOLD, 1 << 30);
  const struct {
    const char* name;
    napi_callback fn;
  } functions[] = {
      {"gemm", Gemm},         {"binary", Binary},       {"unary", Unary},
      {"softmax", Softmax},   {"softmaxGrad", SoftmaxGrad}, {"transpose", Transpose},
      {"reduce", Reduce},     {"setNumThreads", SetNumThreads}, {"numThreads", NumThreads},
      {"conv2d", Conv2d},     {"conv2dBackpropInput", Conv2dBackpropInput},
      {"conv2dBackpropFilter", Conv2dBackpropFilter},
      {"depthwiseConv2d", DepthwiseConv2d}, {"depthwiseConv2dBackpropInput", DepthwiseConv2dBackpropInput},
      {"depthwiseConv2dBackpropFilter", DepthwiseConv2dBackpropFilter},
      {"gather", Gather},     {"unsortedSegmentSum", UnsortedSegmentSum},
      {"sumOfSquares", SumOfSquares}, {"adamw", AdamW},
      {"layerNorm", LayerNorm}, {"layerNormGrad", LayerNormGrad},
      {"activation", Activation}, {"activationGrad", ActivationGrad},
      {"groupNorm", GroupNorm}, {"groupNormGrad", GroupNormGrad},
  };
  for (const auto& f : functions) {
    napi_value fn;
    napi_create_function(env, f.name, NAPI_AUTO_LENGTH, f.fn, nullptr, &fn);
    napi_set_named_property(env, exports, f.name, fn);
  }
  napi_value version;
  napi_create_int32(env, 6, &version);  // NATIVE_ABI_VERSION in src/engine/native.ts
  napi_set_named_property(env, exports, "abiVersion", version);
  return exports;
}
