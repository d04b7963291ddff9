/**
 * The model's input convention, owned here and nowhere else: ImageNet mean/std normalisation of 8-bit RGB (what
 * Swin, DINO and mmseg use), and the test-time resize rule (mmseg's keep-ratio `Resize` to a short side, the long
 * side capped in the same 2048 : 448 proportion as the S-Seg/GroupViT protocol). Training batches, evaluation and
 * the segmenter all call these.
 */
import { mmsegRescaleSize, type RgbImage, resizeBilinear } from "../io/pixels.js";

/** ImageNet statistics on 0–255 pixels, RGB order. */
export const IMAGE_MEAN = [123.675, 116.28, 103.53] as const;
export const IMAGE_STD = [58.395, 57.12, 57.375] as const;

/** The protocol's `img_scale=(2048, 448)`: the long-side cap as a multiple of the short side. */
const LONG_SIDE_PER_SHORT_SIDE = 2048 / 448;

/** ImageNet normalisation of 8-bit RGB, channels last. */
export function normalizeImage(rgb: Uint8Array): Float32Array {
  const out = new Float32Array(rgb.length);
  for (let i = 0; i < rgb.length; i += 3) {
    for (let c = 0; c < 3; c++) out[i + c] = (rgb[i + c] - IMAGE_MEAN[c]) / IMAGE_STD[c];
  }
  return out;
}

/** The size an image of width×height is resized to at test time for a given short side. */
export function testSize(
  width: number,
  height: number,
  shortSide: number,
): { width: number; height: number } {
  if (!Number.isInteger(shortSide) || shortSide < 1)
    throw new RangeError(`shortSide must be a positive integer, got ${shortSide}`);
  return mmsegRescaleSize(width, height, {
    shortSide,
    longSide: Math.round(shortSide * LONG_SIDE_PER_SHORT_SIDE),
  });
}

/** The image resized by the test-time rule (bilinear, cv2-exact). */
export function resizeForTest(image: RgbImage, shortSide: number): RgbImage {
  const size = testSize(image.width, image.height, shortSide);
  return size.width === image.width && size.height === image.height
    ? image
    : resizeBilinear(image, size.width, size.height);
}
