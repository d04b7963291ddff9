/**
 * mmseg's `PhotoMetricDistortion`, the colour augmentation of its UperNet recipes (S-Seg+'s student follows one):
 * brightness, then contrast either second or last, saturation and hue in OpenCV's 8-bit HSV, each step applied
 * with chance ½. The 8-bit arithmetic is mmseg's (float32 products, clip, truncate to uint8) and the HSV
 * conversions are OpenCV's `COLOR_RGB2HSV` / `COLOR_HSV2RGB` (H in [0, 180)); test/data/photometric.test.ts
 * checks them against Debian's cv2. The draws come from the caller's generator, in mmseg's order.
 */
import type { Rng } from "../engine/rng.js";
import { type RgbImage, roundHalfEven } from "../io/pixels.js";

export interface PhotometricOptions {
  /** Brightness offset, uniform in ±delta (mmseg: 32). */
  brightnessDelta: number;
  /** Contrast factor range (mmseg: [0.5, 1.5]). */
  contrastRange: [number, number];
  /** Saturation factor range (mmseg: [0.5, 1.5]). */
  saturationRange: [number, number];
  /** Hue shift in OpenCV's 180-step hue, an integer in [−delta, delta) (mmseg: 18). */
  hueDelta: number;
}

/** mmseg's defaults. */
export const MMSEG_PHOTOMETRIC: PhotometricOptions = {
  brightnessDelta: 32,
  contrastRange: [0.5, 1.5],
  saturationRange: [0.5, 1.5],
  hueDelta: 18,
};

/** One draw: each step's parameter, or undefined where its coin said skip. */
export interface PhotometricDraw {
  brightness?: number;
  /** mmseg's `mode == 1`: contrast right after brightness instead of last. */
  contrastFirst: boolean;
  contrast?: number;
  saturation?: number;
  hue?: number;
}

/** Draws the steps in mmseg's order: brightness, mode, contrast (if first), saturation, hue, contrast (if last). */
export function samplePhotometric(
  rng: Rng,
  options: PhotometricOptions = MMSEG_PHOTOMETRIC,
): PhotometricDraw {
  const coin = () => rng.uniform() < 0.5;
  const uniform = ([low, high]: readonly [number, number]) => low + (high - low) * rng.uniform();
  const { brightnessDelta, contrastRange, saturationRange, hueDelta } = options;
  const brightness = coin() ? uniform([-brightnessDelta, brightnessDelta]) : undefined;
  const contrastFirst = coin();
  let contrast = contrastFirst && coin() ? uniform(contrastRange) : undefined;
  const saturation = coin() ? uniform(saturationRange) : undefined;
  const hue = coin() ? rng.int(2 * hueDelta) - hueDelta : undefined;
  if (!contrastFirst && coin()) contrast = uniform(contrastRange);
  return { brightness, contrastFirst, contrast, saturation, hue };
}

/** The image with `draw` applied (a new image; the input is not changed). */
export function applyPhotometric(image: RgbImage, draw: PhotometricDraw): RgbImage {
  let data = image.data;
  if (draw.brightness !== undefined) data = convert(data, 1, draw.brightness);
  if (draw.contrastFirst && draw.contrast !== undefined) data = convert(data, draw.contrast, 0);
  if (draw.saturation !== undefined) {
    const hsv = rgbToHsv(data);
    const alpha = Math.fround(draw.saturation);
    for (let i = 1; i < hsv.length; i += 3) hsv[i] = toUint8(Math.fround(hsv[i] * alpha));
    data = hsvToRgb(hsv);
  }
  if (draw.hue !== undefined) {
    const hsv = rgbToHsv(data);
    for (let i = 0; i < hsv.length; i += 3) hsv[i] = (((hsv[i] + draw.hue) % 180) + 180) % 180;
    data = hsvToRgb(hsv);
  }
  if (!draw.contrastFirst && draw.contrast !== undefined) data = convert(data, draw.contrast, 0);
  return { width: image.width, height: image.height, data: data === image.data ? data.slice() : data };
}

/** mmseg's `convert`: float32(x)·α + β, clipped to [0, 255], truncated to uint8. */
function convert(data: Uint8Array, alpha: number, beta: number): Uint8Array {
  const [a, b] = [Math.fround(alpha), Math.fround(beta)];
  const out = new Uint8Array(data.length);
  for (let i = 0; i < data.length; i++) out[i] = toUint8(Math.fround(Math.fround(data[i] * a) + b));
  return out;
}

function toUint8(x: number): number {
  return x <= 0 ? 0 : x >= 255 ? 255 : Math.trunc(x);
}

const HSV_SHIFT = 12;
const HSV_ROUND = 1 << (HSV_SHIFT - 1);
// OpenCV's RGB2HSV_b tables: 255·2¹² / v and 180·2¹² / (6·diff), rounded half to even
const SDIV = Int32Array.from({ length: 256 }, (_, i) =>
  i === 0 ? 0 : roundHalfEven((255 << HSV_SHIFT) / i),
);
const HDIV = Int32Array.from({ length: 256 }, (_, i) =>
  i === 0 ? 0 : roundHalfEven((180 << HSV_SHIFT) / (6 * i)),
);

/** OpenCV's 8-bit RGB → HSV (`COLOR_RGB2HSV`): integer arithmetic, H in [0, 180), S and V in [0, 255]. */
export function rgbToHsv(rgb: Uint8Array): Uint8Array {
  const out = new Uint8Array(rgb.length);
  for (let i = 0; i < rgb.length; i += 3) {
    const [r, g, b] = [rgb[i], rgb[i + 1], rgb[i + 2]];
    const v = Math.max(r, g, b);
    const diff = v - Math.min(r, g, b);
    const s = (diff * SDIV[v] + HSV_ROUND) >> HSV_SHIFT;
    let h = v === r ? g - b : v === g ? b - r + 2 * diff : r - g + 4 * diff;
    h = (h * HDIV[diff] + HSV_ROUND) >> HSV_SHIFT;
    if (h < 0) h += 180;
    out[i] = h;
    out[i + 1] = s;
    out[i + 2] = v;
  }
  return out;
}

// which of v, v(1−s), v(1−s·f), v(1−s(1−f)) is B, G, R in each hue sector (OpenCV's sector_data)
const SECTORS = [
  [1, 3, 0],
  [1, 0, 2],
  [3, 0, 1],
  [0, 2, 1],
  [0, 1, 3],
  [2, 1, 0],
];

/**
 * OpenCV's 8-bit HSV → RGB (`COLOR_HSV2RGB`, H in [0, 180)): float32 arithmetic, truncated to uint8 as its vector
 * path does (it serves all of a row but the tail shorter than one vector block, which it rounds instead).
 */
export function hsvToRgb(hsv: Uint8Array): Uint8Array {
  const f = Math.fround;
  const hscale = f(6 / 180);
  const inv255 = f(1 / 255);
  const out = new Uint8Array(hsv.length);
  for (let i = 0; i < hsv.length; i += 3) {
    const s = f(hsv[i + 1] * inv255);
    const v = f(hsv[i + 2] * inv255);
    let [b, g, r] = [v, v, v];
    if (s !== 0) {
      let h = f(hsv[i] * hscale) % 6;
      let sector = Math.floor(h);
      h = f(h - sector);
      if (sector < 0 || sector >= 6) [sector, h] = [0, 0];
      // 1 − s·x in one rounding: the compiler fuses cv2's vector multiply and subtract (FMA)
      const tab = [v, f(v * f(1 - s)), f(v * f(1 - s * h)), f(v * f(1 - s * f(1 - h)))];
      [b, g, r] = SECTORS[sector].map((k) => tab[k]);
    }
    out[i] = toUint8(f(r * 255));
    out[i + 1] = toUint8(f(g * 255));
    out[i + 2] = toUint8(f(b * 255));
  }
  return out;
}
