/**
 * Decoded images and the pixel arithmetic on them, with no I/O: the part of image handling that runs anywhere
 * (Node and the browser). Decoding and encoding files is `image.ts` (sharp).
 */

/** An 8-bit RGB image: row-major, 3 bytes per pixel, no padding. */
export interface RgbImage {
  width: number;
  height: number;
  data: Uint8Array;
}

/** Already-decoded pixels: RGB or RGBA, row-major; `channels` is inferred from the length when omitted. */
export interface RawImageInput {
  data: Uint8Array | Uint8ClampedArray;
  width: number;
  height: number;
  channels?: number;
}

/** What the segmenter and readImage accept: a file path (or URL in the browser), encoded bytes, or decoded pixels. */
export type ImageInput = string | Uint8Array | RawImageInput;

/** Every image-I/O failure; the message starts with the file name (or `<buffer>`, `<raw pixels>`). */
export class ImageError extends Error {
  override name = "ImageError";
}

const RAW_SOURCE = "<raw pixels>";

/** Already-decoded RGB or RGBA pixels as an RgbImage (a copy); bad sizes are an ImageError. */
export function rgbFromRaw(raw: RawImageInput): RgbImage {
  const { data, width, height } = raw;
  if (!Number.isInteger(width) || !Number.isInteger(height) || width <= 0 || height <= 0) {
    throw new ImageError(`${RAW_SOURCE}: width and height must be positive integers, got ${width}×${height}`);
  }
  const pixels = width * height;
  const channels = raw.channels ?? data.length / pixels;
  if ((channels !== 3 && channels !== 4) || data.length !== pixels * channels) {
    throw new ImageError(
      `${RAW_SOURCE}: ${data.length} bytes do not fit ${width}×${height} RGB (${pixels * 3} bytes) or RGBA (${pixels * 4} bytes)` +
        (raw.channels === undefined ? "" : ` with channels=${raw.channels}`),
    );
  }
  if (channels === 3) return { width, height, data: new Uint8Array(data) };
  const rgb = new Uint8Array(pixels * 3);
  for (let p = 0; p < pixels; p++) {
    rgb[3 * p] = data[4 * p];
    rgb[3 * p + 1] = data[4 * p + 1];
    rgb[3 * p + 2] = data[4 * p + 2];
  }
  return { width, height, data: rgb };
}

export interface MmsegScale {
  shortSide?: number;
  longSide?: number;
}

/**
 * The size mmseg's `Resize(img_scale=(longSide, shortSide), keep_ratio=True)` gives (mmcv `rescale_size`):
 * the largest scale keeping the long side ≤ longSide and the short side ≤ shortSide, sides rounded half up.
 */
export function mmsegRescaleSize(
  width: number,
  height: number,
  { shortSide = 448, longSide = 2048 }: MmsegScale = {},
): { width: number; height: number } {
  if (!(width > 0 && height > 0)) throw new RangeError(`image size must be positive, got ${width}×${height}`);
  const scale = Math.min(longSide / Math.max(width, height), shortSide / Math.min(width, height));
  return { width: Math.trunc(width * scale + 0.5), height: Math.trunc(height * scale + 0.5) };
}

/** OpenCV's fixed-point resize weights have 11 fractional bits (INTER_RESIZE_COEF_SCALE). */
const COEF_SCALE = 2048;

/** Source index and fixed-point weights (summing to COEF_SCALE) for every output position along one axis. */
interface LinearTaps {
  index: Int32Array;
  weight0: Int32Array;
  weight1: Int32Array;
}

/** Round half to even: OpenCV's cvRound (SSE conversion) and Python's round() alike. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return r - x === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * OpenCV's INTER_LINEAR taps in single-precision: half-pixel centres; along x an out-of-range tap snaps to the
 * edge pixel with weight 1, along y the fraction is kept and the rows are clamped instead (as OpenCV does).
 */
function linearTaps(srcSize: number, dstSize: number, snapEdges: boolean): LinearTaps {
  // Inverted like OpenCV's 1/inv_scale: it can differ from srcSize / dstSize in the last bit.
  const scale = 1 / (dstSize / srcSize);
  const taps = {
    index: new Int32Array(dstSize),
    weight0: new Int32Array(dstSize),
    weight1: new Int32Array(dstSize),
  };
  for (let d = 0; d < dstSize; d++) {
    let fraction = Math.fround((d + 0.5) * scale - 0.5);
    let index = Math.floor(fraction);
    fraction = Math.fround(fraction - index);
    if (snapEdges && index < 0) [index, fraction] = [0, 0];
    if (snapEdges && index >= srcSize - 1) [index, fraction] = [srcSize - 1, 0];
    taps.index[d] = index;
    taps.weight0[d] = roundHalfEven(Math.fround(1 - fraction) * COEF_SCALE);
    taps.weight1[d] = roundHalfEven(fraction * COEF_SCALE);
  }
  return taps;
}

function clampIndex(i: number, size: number): number {
  return i < 0 ? 0 : i >= size ? size - 1 : i;
}

/**
 * `cv2.resize(img, (width, height), interpolation=cv2.INTER_LINEAR)` for uint8 RGB, as mmcv's `imresize` calls
 * it: half-pixel centres, no antialiasing, 11-bit fixed-point weights and OpenCV's rounding shortcut in the
 * vertical pass, so the output is bit-exact (at exactly half size this equals the 2×2 mean OpenCV switches to).
 */
export function resizeBilinear(img: RgbImage, width: number, height: number): RgbImage {
  checkResizeSizes(img.width, img.height, width, height);
  checkLength(img.data.length, img.width * img.height * 3, "RGB image");
  const channels = 3;
  const rowLength = width * channels;
  const xTaps = linearTaps(img.width, width, true);
  const yTaps = linearTaps(img.height, height, false);
  // Source offsets of both horizontal taps, computed once instead of per row (this loop is the data pipeline's hot spot).
  const leftOffset = new Int32Array(width);
  const rightOffset = new Int32Array(width);
  for (let x = 0; x < width; x++) {
    leftOffset[x] = xTaps.index[x] * channels;
    rightOffset[x] = clampIndex(xTaps.index[x] + 1, img.width) * channels;
  }
  const src = img.data;
  const { weight0, weight1 } = xTaps;
  const horizontalRows: (Int32Array | undefined)[] = new Array(img.height);
  const horizontalRow = (y: number): Int32Array => {
    let row = horizontalRows[y];
    if (row) return row;
    row = new Int32Array(rowLength);
    const rowStart = y * img.width * channels;
    for (let x = 0, o = 0; x < width; x++, o += channels) {
      const left = rowStart + leftOffset[x];
      const right = rowStart + rightOffset[x];
      const a = weight0[x];
      const b = weight1[x];
      row[o] = src[left] * a + src[right] * b;
      row[o + 1] = src[left + 1] * a + src[right + 1] * b;
      row[o + 2] = src[left + 2] * a + src[right + 2] * b;
    }
    horizontalRows[y] = row;
    return row;
  };
  const out = new Uint8Array(height * rowLength);
  for (let y = 0; y < height; y++) {
    const top = horizontalRow(clampIndex(yTaps.index[y], img.height));
    const bottom = horizontalRow(clampIndex(yTaps.index[y] + 1, img.height));
    const w0 = yTaps.weight0[y];
    const w1 = yTaps.weight1[y];
    const outStart = y * rowLength;
    for (let i = 0; i < rowLength; i++) {
      // OpenCV's 16-bit shortcut: drop 4 bits, keep the high half of each product, round the last 2 bits.
      out[outStart + i] = ((((top[i] >> 4) * w0) >> 16) + (((bottom[i] >> 4) * w1) >> 16) + 2) >> 2;
    }
  }
  return { width, height, data: out };
}

/**
 * `cv2.resize(labels, (newWidth, newHeight), interpolation=cv2.INTER_NEAREST)` for a single-channel label map:
 * output pixel x takes source pixel floor(x · srcWidth / newWidth), so labels are never mixed.
 */
export function resizeNearest<T extends Uint8Array | Uint16Array>(
  labels: T,
  width: number,
  height: number,
  newWidth: number,
  newHeight: number,
): T {
  checkResizeSizes(width, height, newWidth, newHeight);
  checkLength(labels.length, width * height, "label map");
  // Inverted like OpenCV's 1/inv_scale: it can differ from width / newWidth in the last bit.
  const xScale = 1 / (newWidth / width);
  const yScale = 1 / (newHeight / height);
  const sourceX = new Int32Array(newWidth);
  for (let x = 0; x < newWidth; x++) sourceX[x] = Math.min(Math.floor(x * xScale), width - 1);
  const out = (
    labels instanceof Uint16Array
      ? new Uint16Array(newWidth * newHeight)
      : new Uint8Array(newWidth * newHeight)
  ) as T;
  for (let y = 0; y < newHeight; y++) {
    const rowStart = Math.min(Math.floor(y * yScale), height - 1) * width;
    for (let x = 0; x < newWidth; x++) out[y * newWidth + x] = labels[rowStart + sourceX[x]];
  }
  return out;
}

function checkResizeSizes(width: number, height: number, newWidth: number, newHeight: number): void {
  for (const size of [width, height, newWidth, newHeight]) {
    if (!Number.isInteger(size) || size <= 0) {
      throw new RangeError(
        `resize sizes must be positive integers, got ${width}×${height} → ${newWidth}×${newHeight}`,
      );
    }
  }
}

function checkLength(actual: number, expected: number, what: string): void {
  if (actual !== expected) throw new RangeError(`${what} has ${actual} values, expected ${expected}`);
}
