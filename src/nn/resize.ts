import * as tf from "@tensorflow/tfjs";
import { type InterpolationMode, interpolationTaps, scaledSize } from "./interpolation.js";

export interface ResizeOptions {
  mode?: InterpolationMode;
  alignCorners?: boolean;
}

/**
 * Resize channels-last maps [B, H, W, C] with torch's F.interpolate semantics (default align_corners=False).
 * Built from gathers and weighted sums, so gradients are exact (tfjs's own ResizeBilinearGrad ignores
 * half-pixel centres).
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

function resizeAxis(
  x: tf.Tensor,
  axis: number,
  outSize: number,
  mode: InterpolationMode,
  alignCorners: boolean | undefined,
  scaleFactor: number | undefined,
): tf.Tensor {
  const inSize = x.shape[axis];
  if (inSize === outSize && scaleFactor === undefined) return x;
  const taps = interpolationTaps(inSize, outSize, mode, { alignCorners, scaleFactor });
  const weightShape = x.shape.map((_, i) => (i === axis ? outSize : 1));
  let out: tf.Tensor | null = null;
  for (const tap of taps) {
    const gathered = tf.gather(x, tf.tensor1d(tap.index, "int32"), axis);
    const term = mode === "nearest" ? gathered : gathered.mul(tf.tensor(tap.weight, weightShape));
    out = out ? out.add(term) : term;
  }
  return out!;
}
