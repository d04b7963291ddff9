/**
 * Pixel-adaptive mask refinement (PAMR; Araslanov & Roth, "Single-stage semantic segmentation from image labels",
 * CVPR 2020), the test-time step TCL applies to its class score maps: each pixel's scores are repeatedly replaced
 * by an average of its neighbours' (at several dilations), weighted by how alike their colours are, so that score
 * maps computed at stride 4 snap to the image's edges.
 *
 * Affinity of pixel p to its neighbour p + o: softmax over o of mean_k −|I_k(p) − I_k(p + o)| / (0.1·σ_k(p)), σ_k(p)
 * the (unbiased) standard deviation of channel k over p's 3×3 neighbourhoods at all dilations; borders replicate.
 * The rule is invariant to an affine map of each colour channel, so raw RGB gives what a normalised image does.
 */
import type { RgbImage } from "../io/pixels.js";

/** TCL's settings (`apply_pamr`): 10 iterations over neighbours at dilations 1 to 24. */
export const PAMR_ITERATIONS = 10;
export const PAMR_DILATIONS: readonly number[] = [1, 2, 4, 8, 12, 24];

export interface PamrOptions {
  iterations?: number;
  dilations?: readonly number[];
}

/** The 8 neighbours of a 3×3 kernel, row by row, without its centre. */
const RING: readonly (readonly [number, number])[] = [
  [-1, -1],
  [-1, 0],
  [-1, 1],
  [0, -1],
  [0, 1],
  [1, -1],
  [1, 0],
  [1, 1],
];

/**
 * Refined copy of `scores` [H, W, C] (channels last, at the image's size) by PAMR with the image's colours.
 * Scores are averaged, never sharpened: each refined value is a convex mix of the input's values.
 */
export function refineScores(
  scores: Float32Array,
  channels: number,
  image: RgbImage,
  options: PamrOptions = {},
): Float32Array {
  const { width, height, data } = image;
  const pixels = width * height;
  if (scores.length !== pixels * channels)
    throw new RangeError(
      `refineScores: ${scores.length} scores do not fit a ${width}×${height} image with ${channels} channels`,
    );
  const iterations = options.iterations ?? PAMR_ITERATIONS;
  const dilations = options.dilations ?? PAMR_DILATIONS;
  const offsets = dilations.flatMap((d) => RING.map(([dy, dx]) => [dy * d, dx * d] as const));
  const neighbours = offsets.length;
  const clamp = (v: number, size: number) => (v < 0 ? 0 : v >= size ? size - 1 : v);

  // the colour-affinity weights, neighbour-major [n][p] for the iterations' row streams
  const weight = new Float32Array(neighbours * pixels);
  const index = new Int32Array(neighbours);
  const logits = new Float64Array(neighbours);
  const spread = new Float64Array(3);
  const count = 9 * dilations.length; // the 3×3 neighbourhoods of every dilation, the centre once per dilation
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const p = y * width + x;
      for (let n = 0; n < neighbours; n++)
        index[n] = clamp(y + offsets[n][0], height) * width + clamp(x + offsets[n][1], width);
      for (let k = 0; k < 3; k++) {
        const centre = data[3 * p + k];
        let sum = centre * dilations.length;
        for (let n = 0; n < neighbours; n++) sum += data[3 * index[n] + k];
        const mean = sum / count;
        let squares = (centre - mean) ** 2 * dilations.length;
        for (let n = 0; n < neighbours; n++) squares += (data[3 * index[n] + k] - mean) ** 2;
        spread[k] = 1e-8 + 0.1 * Math.sqrt(squares / (count - 1));
      }
      let largest = -Infinity;
      for (let n = 0; n < neighbours; n++) {
        let affinity = 0;
        for (let k = 0; k < 3; k++)
          affinity -= Math.abs(data[3 * p + k] - data[3 * index[n] + k]) / spread[k];
        logits[n] = affinity / 3;
        if (logits[n] > largest) largest = logits[n];
      }
      let total = 0;
      for (let n = 0; n < neighbours; n++) {
        logits[n] = Math.exp(logits[n] - largest);
        total += logits[n];
      }
      for (let n = 0; n < neighbours; n++) weight[n * pixels + p] = logits[n] / total;
    }

  // channel-major while iterating: for one offset, a row's sources are one (shifted, clamped) row
  let current = new Float32Array(scores.length);
  for (let p = 0; p < pixels; p++)
    for (let c = 0; c < channels; c++) current[c * pixels + p] = scores[p * channels + c];
  let next = new Float32Array(scores.length);
  // row by row, all offsets at once: the row being written stays in cache while its 8·D sources are added
  for (let step = 0; step < iterations; step++) {
    next.fill(0);
    for (let y = 0; y < height; y++)
      for (let n = 0; n < neighbours; n++) {
        const [dy, dx] = offsets[n];
        const source = clamp(y + dy, height) * width;
        accumulateShiftedRow(
          next,
          current,
          weight,
          n * pixels + y * width,
          y * width,
          source,
          dx,
          width,
          pixels,
          channels,
        );
      }
    [current, next] = [next, current];
  }
  const refined = new Float32Array(scores.length);
  for (let p = 0; p < pixels; p++)
    for (let c = 0; c < channels; c++) refined[p * channels + c] = current[c * pixels + p];
  return refined;
}

/**
 * One row of next[c, p] += weight[p] · current[c, p + offset] for every channel: the row's weights start at `w`, its
 * source row is `source`, columns shifted by `dx` and clamped to the image (replicate padding); maps channel-major
 * [C][H·W].
 */
function accumulateShiftedRow(
  next: Float32Array,
  current: Float32Array,
  weight: Float32Array,
  w: number,
  row: number,
  source: number,
  dx: number,
  width: number,
  pixels: number,
  channels: number,
): void {
  const inside = Math.min(width, Math.max(0, -dx)); // columns before it read column 0
  const end = Math.max(inside, Math.min(width, width - dx)); // columns from it read the last column
  for (let c = 0; c < channels; c++) {
    const from = c * pixels + source;
    const to = c * pixels + row;
    for (let x = 0; x < inside; x++) next[to + x] += weight[w + x] * current[from];
    for (let x = inside; x < end; x++) next[to + x] += weight[w + x] * current[from + x + dx];
    for (let x = end; x < width; x++) next[to + x] += weight[w + x] * current[from + width - 1];
  }
}
