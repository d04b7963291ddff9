/**
 * PyTorch's F.interpolate sampling rules (aten/src/ATen/native/UpSample.h) as pure math: for each output index
 * along one axis, which input indices it reads and with what weights. Resizing applies these taps per axis.
 */

export type InterpolationMode = "nearest" | "bilinear" | "bicubic";

export interface InterpolationOptions {
  /** torch's align_corners (default false). Ignored for nearest, as in torch. */
  alignCorners?: boolean;
  /** torch's scale_factor for this axis, when the caller gave one: it then sets the sampling ratio (1/scale). */
  scaleFactor?: number;
}

/** taps[t].index[o] and taps[t].weight[o]: output o = Σ_t weight · input[index]. */
export interface Tap {
  index: Int32Array;
  weight: Float32Array;
}

/** torch's cubic convolution constant. */
const CUBIC_A = -0.75;

function sourceScale(inSize: number, outSize: number, alignCorners: boolean, scaleFactor?: number): number {
  if (alignCorners) return outSize > 1 ? (inSize - 1) / (outSize - 1) : 0;
  return scaleFactor !== undefined && scaleFactor > 0 ? 1 / scaleFactor : inSize / outSize;
}

function sourceIndex(scale: number, dst: number, alignCorners: boolean, cubic: boolean): number {
  if (alignCorners) return scale * dst;
  const src = scale * (dst + 0.5) - 0.5;
  return !cubic && src < 0 ? 0 : src;
}

function cubicWeights(t: number): [number, number, number, number] {
  const near = (x: number) => ((CUBIC_A + 2) * x - (CUBIC_A + 3)) * x * x + 1; // |x| ≤ 1
  const far = (x: number) => ((CUBIC_A * x - 5 * CUBIC_A) * x + 8 * CUBIC_A) * x - 4 * CUBIC_A; // 1 < |x| < 2
  return [far(t + 1), near(t), near(1 - t), far(2 - t)];
}

const clampIndex = (i: number, size: number) => Math.min(Math.max(i, 0), size - 1);

export function interpolationTaps(
  inSize: number,
  outSize: number,
  mode: InterpolationMode,
  options: InterpolationOptions = {},
): Tap[] {
  for (const [name, v] of [
    ["inSize", inSize],
    ["outSize", outSize],
  ] as const) {
    if (!Number.isInteger(v) || v < 1)
      throw new RangeError(`Expected a positive integer for ${name} but received ${v}`);
  }
  const alignCorners = options.alignCorners ?? false;
  const nTaps = mode === "nearest" ? 1 : mode === "bilinear" ? 2 : 4;
  const taps: Tap[] = Array.from({ length: nTaps }, () => ({
    index: new Int32Array(outSize),
    weight: new Float32Array(outSize),
  }));
  if (mode === "nearest") {
    // torch computes the nearest index in float32: floor(o · scale), clamped.
    const scale = Math.fround(sourceScale(inSize, outSize, false, options.scaleFactor));
    for (let o = 0; o < outSize; o++) {
      taps[0].index[o] = inSize === outSize ? o : Math.min(Math.floor(Math.fround(o * scale)), inSize - 1);
      taps[0].weight[o] = 1;
    }
    return taps;
  }
  const scale = sourceScale(inSize, outSize, alignCorners, options.scaleFactor);
  for (let o = 0; o < outSize; o++) {
    if (mode === "bilinear") {
      const src = sourceIndex(scale, o, alignCorners, false);
      const i0 = Math.floor(src);
      const i1 = i0 < inSize - 1 ? i0 + 1 : i0;
      const lambda = Math.min(Math.max(src - i0, 0), 1);
      taps[0].index[o] = clampIndex(i0, inSize);
      taps[0].weight[o] = 1 - lambda;
      taps[1].index[o] = clampIndex(i1, inSize);
      taps[1].weight[o] = lambda;
    } else {
      const src = sourceIndex(scale, o, alignCorners, true);
      const i = Math.floor(src);
      const w = cubicWeights(src - i);
      for (let t = 0; t < 4; t++) {
        taps[t].index[o] = clampIndex(i - 1 + t, inSize);
        taps[t].weight[o] = w[t];
      }
    }
  }
  return taps;
}

/** torch's output size for a scale_factor: floor(in · scale). */
export function scaledSize(inSize: number, scaleFactor: number): number {
  return Math.floor(inSize * scaleFactor);
}

/**
 * Channels-last values [h, w, c] resized to [outH, outW, c] by the taps, rows then columns (the order `resize`
 * uses), in plain loops: O(taps) per output value, where the tensor `resize` multiplies by a dense
 * (out × in) matrix — the segmenter's post-processing at full image size took seconds that way.
 */
export function resizeChannelsLast(
  data: Float32Array,
  [h, w, c]: readonly [number, number, number],
  [outH, outW]: readonly [number, number],
  mode: InterpolationMode = "bilinear",
): Float32Array {
  if (data.length !== h * w * c) throw new RangeError(`${data.length} values do not fit [${h}, ${w}, ${c}]`);
  const rows = interpolationTaps(h, outH, mode);
  const columns = interpolationTaps(w, outW, mode);
  const rowPass = new Float32Array(outH * w * c);
  const line = w * c;
  for (let o = 0; o < outH; o++) {
    const target = rowPass.subarray(o * line, (o + 1) * line);
    for (const tap of rows) {
      const weight = tap.weight[o];
      if (weight === 0) continue;
      const source = tap.index[o] * line;
      for (let i = 0; i < line; i++) target[i] += weight * data[source + i];
    }
  }
  const out = new Float32Array(outH * outW * c);
  for (let y = 0; y < outH; y++)
    for (let o = 0; o < outW; o++) {
      const target = (y * outW + o) * c;
      for (const tap of columns) {
        const weight = tap.weight[o];
        if (weight === 0) continue;
        const source = (y * w + tap.index[o]) * c;
        for (let k = 0; k < c; k++) out[target + k] += weight * rowPass[source + k];
      }
    }
  return out;
}
