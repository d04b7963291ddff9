/**
 * Training augmentation, seeded: torchvision's `RandomResizedCrop` then `RandomHorizontalFlip`. The geometry
 * is returned as a `CropTransform` so that pseudo-masks and label maps can be cut exactly like the image.
 */
import type { Rng } from "../engine/rng.js";
import type { LabelArray, LabelMap } from "../io/label-png.js";
import { type RgbImage, resizeBilinear, resizeNearest, roundHalfEven } from "../io/pixels.js";

/** A rectangle in pixels of the source image; x, y is its top-left corner. */
export interface CropBox {
  x: number;
  y: number;
  width: number;
  height: number;
}

export interface RandomResizedCropOptions {
  /** Range of the crop's area as a fraction of the image's area (default [0.08, 1]). */
  scale?: [number, number];
  /** Range of the crop's width / height, sampled log-uniformly (default [3/4, 4/3]). */
  ratio?: [number, number];
}

export interface AugmentOptions extends RandomResizedCropOptions {
  /** The output size: one side for a square, or width and height. */
  size: number | { width: number; height: number };
  /** Chance of mirroring left–right (default 0.5). */
  flipProbability?: number;
}

/** One augmentation's geometry: which box of which source, resized to what, mirrored or not. */
export interface CropTransform {
  sourceWidth: number;
  sourceHeight: number;
  box: CropBox;
  outputWidth: number;
  outputHeight: number;
  /** Mirrored left–right after the resize. */
  flipped: boolean;
}

export interface AugmentedImage extends CropTransform {
  image: RgbImage;
}

const DEFAULT_SCALE: [number, number] = [0.08, 1];
const DEFAULT_RATIO: [number, number] = [3 / 4, 4 / 3];
const CROP_ATTEMPTS = 10;

/** Crop, resize (bilinear, cv2-exact) and maybe flip `image`, drawing the geometry from `rng`. */
export function augmentImage(image: RgbImage, rng: Rng, options: AugmentOptions): AugmentedImage {
  const transform = sampleCropTransform(image.width, image.height, rng, options);
  return { ...transform, image: applyCropToImage(image, transform) };
}

/** The geometry `augmentImage` would use on a `width`×`height` image: the crop box first, then the flip. */
export function sampleCropTransform(
  width: number,
  height: number,
  rng: Rng,
  options: AugmentOptions,
): CropTransform {
  const { size, flipProbability = 0.5 } = options;
  const output = typeof size === "number" ? { width: size, height: size } : size;
  if (![output.width, output.height].every((side) => Number.isInteger(side) && side > 0)) {
    throw new RangeError(`Expected positive integers for size but received ${JSON.stringify(size)}`);
  }
  if (!(flipProbability >= 0 && flipProbability <= 1)) {
    throw new RangeError(`Expected a number in [0, 1] for flipProbability but received ${flipProbability}`);
  }
  const box = randomResizedCropBox(width, height, rng, options);
  return {
    sourceWidth: width,
    sourceHeight: height,
    box,
    outputWidth: output.width,
    outputHeight: output.height,
    flipped: rng.uniform() < flipProbability,
  };
}

/**
 * torchvision's `RandomResizedCrop.get_params`, step for step: up to 10 draws of an area fraction (uniform in
 * `scale`) and an aspect ratio (log-uniform in `ratio`), sides rounded like Python's round(), the first box
 * that fits placed uniformly; otherwise the centre crop clamped to the ratio range. Only the random stream
 * differs from torch's.
 */
export function randomResizedCropBox(
  width: number,
  height: number,
  rng: Rng,
  { scale = DEFAULT_SCALE, ratio = DEFAULT_RATIO }: RandomResizedCropOptions = {},
): CropBox {
  checkSize(width, height);
  checkRange("scale", scale);
  checkRange("ratio", ratio);
  const area = width * height;
  const [logRatioLow, logRatioHigh] = [Math.log(ratio[0]), Math.log(ratio[1])];
  for (let attempt = 0; attempt < CROP_ATTEMPTS; attempt++) {
    const targetArea = area * uniform(rng, scale[0], scale[1]);
    const aspectRatio = Math.exp(uniform(rng, logRatioLow, logRatioHigh));
    const w = roundHalfEven(Math.sqrt(targetArea * aspectRatio));
    const h = roundHalfEven(Math.sqrt(targetArea / aspectRatio));
    if (0 < w && w <= width && 0 < h && h <= height) {
      const y = rng.int(height - h + 1);
      const x = rng.int(width - w + 1);
      return { x, y, width: w, height: h };
    }
  }
  let w = width;
  let h = height;
  if (width / height < ratio[0]) h = roundHalfEven(w / ratio[0]);
  else if (width / height > ratio[1]) w = roundHalfEven(h * ratio[1]);
  return { x: Math.floor((width - w) / 2), y: Math.floor((height - h) / 2), width: w, height: h };
}

/** Apply `transform` to an image of the size it was drawn for. */
export function applyCropToImage(image: RgbImage, transform: CropTransform): RgbImage {
  checkSource(image.width, image.height, transform, "image");
  const { box, outputWidth, outputHeight } = transform;
  const cropped = { width: box.width, height: box.height, data: cropPixels(image.data, image.width, 3, box) };
  const resized = resizeBilinear(cropped, outputWidth, outputHeight);
  if (transform.flipped) mirrorRows(resized.data, outputWidth, 3);
  return resized;
}

/** Apply `transform` to a label map (or pseudo-mask) of the image's size; nearest-neighbour, labels unmixed. */
export function applyCropToLabelMap(labelMap: LabelMap, transform: CropTransform): LabelMap {
  checkSource(labelMap.width, labelMap.height, transform, "label map");
  const { box, outputWidth, outputHeight } = transform;
  const cropped = cropPixels(labelMap.labels, labelMap.width, 1, box);
  const labels = resizeNearest(cropped, box.width, box.height, outputWidth, outputHeight);
  if (transform.flipped) mirrorRows(labels, outputWidth, 1);
  return { width: outputWidth, height: outputHeight, labels };
}

/** Uniform in [low, high), as torch's `uniform_`. */
function uniform(rng: Rng, low: number, high: number): number {
  return low + (high - low) * rng.uniform();
}

function cropPixels<T extends LabelArray>(pixels: T, width: number, channels: number, box: CropBox): T {
  const rowLength = box.width * channels;
  const out = (
    pixels instanceof Uint16Array
      ? new Uint16Array(rowLength * box.height)
      : new Uint8Array(rowLength * box.height)
  ) as T;
  for (let row = 0; row < box.height; row++) {
    const start = ((box.y + row) * width + box.x) * channels;
    out.set(pixels.subarray(start, start + rowLength), row * rowLength);
  }
  return out;
}

/** Mirror every row left–right in place. */
function mirrorRows(pixels: LabelArray, width: number, channels: number): void {
  const rowLength = width * channels;
  for (let rowStart = 0; rowStart < pixels.length; rowStart += rowLength) {
    for (let left = 0, right = width - 1; left < right; left++, right--) {
      for (let c = 0; c < channels; c++) {
        const a = rowStart + left * channels + c;
        const b = rowStart + right * channels + c;
        const saved = pixels[a];
        pixels[a] = pixels[b];
        pixels[b] = saved;
      }
    }
  }
}

function checkSize(width: number, height: number): void {
  if (!(Number.isInteger(width) && Number.isInteger(height) && width > 0 && height > 0)) {
    throw new RangeError(`Expected a positive integer image size but received ${width}×${height}`);
  }
}

function checkRange(name: string, [low, high]: [number, number]): void {
  if (!(low > 0 && low <= high && Number.isFinite(high))) {
    throw new RangeError(`Expected 0 < low ≤ high for ${name} but received [${low}, ${high}]`);
  }
}

function checkSource(width: number, height: number, transform: CropTransform, what: string): void {
  if (width !== transform.sourceWidth || height !== transform.sourceHeight) {
    throw new RangeError(
      `the transform was drawn for ${transform.sourceWidth}×${transform.sourceHeight} but the ${what} is ${width}×${height}`,
    );
  }
}
