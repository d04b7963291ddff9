import * as tf from "@tensorflow/tfjs";
import { type InterpolationMode, interpolationTaps, scaledSize } from "./interpolation.js";

export interface ResizeOptions {
  mode?: InterpolationMode;
  alignCorners?: boolean;
}

/**
 * Resize channels-last maps [B, H, W, C] with torch's F.interpolate semantics (default align_corners=False).
 * Each axis is one matrix product with its interpolation matrix (out × in, built from torch's taps), so
 * gradients are exact (tfjs's own ResizeBilinearGrad ignores half-pixel centres) and run on the GEMM kernel
 * (a gather's gradient is a slow per-row loop in tfjs).
 */
export function resize(x: tf.Tensor4D, size: [number, number], options: ResizeOptions = {}): tf.Tensor4D {
  return resizeImpl(x, size, options, [undefined, undefined]);
}

/** Resize by a scale factor per axis, as torch's F.interpolate(scale_factor=…): the factor sets the sampling ratio. */
export function resizeByScale(
  x: tf.Tensor4D,
  scale: [number, number],
  options: ResizeOptions = {},
): tf.Tensor4D {
  const size: [number, number] = [scaledSize(x.shape[1], scale[0]), scaledSize(x.shape[2], scale[1])];
  return resizeImpl(x, size, options, scale);
}

function resizeImpl(
  x: tf.Tensor4D,
  [outH, outW]: [number, number],
  options: ResizeOptions,
  scale: [number | undefined, number | undefined],
): tf.Tensor4D {
  const mode = options.mode ?? "bilinear";
  return tf.tidy(() => {
    const rows = resizeAxis(x, 1, outH, mode, options.alignCorners, scale[0]);
    return resizeAxis(rows, 2, outW, mode, options.alignCorners, scale[1]) as tf.Tensor4D;
  });
}

/** The (outSize × inSize) matrix whose rows hold each output's tap weights. */
function interpolationMatrix(
  inSize: number,
  outSize: number,
  mode: InterpolationMode,
  alignCorners: boolean | undefined,
  scaleFactor: number | undefined,
): tf.Tensor3D {
  const matrix = new Float32Array(outSize * inSize);
  for (const tap of interpolationTaps(inSize, outSize, mode, { alignCorners, scaleFactor })) {
    for (let o = 0; o < outSize; o++)
      matrix[o * inSize + tap.index[o]] += mode === "nearest" ? 1 : tap.weight[o];
  }
  return tf.tensor3d(matrix, [1, outSize, inSize]);
}

function resizeAxis(
  x: tf.Tensor,
  axis: 1 | 2,
  outSize: number,
  mode: InterpolationMode,
  alignCorners: boolean | undefined,
  scaleFactor: number | undefined,
): tf.Tensor {
  const [b, h, w, c] = x.shape;
  const inSize = axis === 1 ? h : w;
  if (inSize === outSize && scaleFactor === undefined) return x;
  const matrix = interpolationMatrix(inSize, outSize, mode, alignCorners, scaleFactor);
  // The batch of [in, rest] slices is multiplied by one broadcast [out, in] matrix.
  const slices = axis === 1 ? x.reshape([b, h, w * c]) : x.reshape([b * h, w, c]);
  const resized = tf.matMul(matrix, slices);
  return axis === 1 ? resized.reshape([b, outSize, w, c]) : resized.reshape([b, h, outSize, c]);
}
