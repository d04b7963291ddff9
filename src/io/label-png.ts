import { decode, encode, hasPngSignature } from "fast-png";
import sharp, { type Sharp, type OverlayOptions as SharpOverlay } from "sharp";
import { writeFileAtomic } from "./atomic.js";
import { readImageBytes } from "./image.js";
import { distinctColours, vocPalette } from "./palette.js";
import { ImageError, type RgbImage } from "./pixels.js";

/** One class index per pixel, row-major. */
export type LabelArray = Uint8Array | Uint16Array;

export interface LabelMap {
  width: number;
  height: number;
  /** Uint8Array for 8-bit (and smaller) PNGs, Uint16Array for 16-bit ones. */
  labels: LabelArray;
}

/**
 * Write a label map as a PNG whose pixel values are the labels: an 8-bit indexed PNG (VOC style, coloured by
 * `palette`, default the VOC colour map) when every label is below 256, else a 16-bit greyscale PNG.
 */
export async function writeLabelPng(
  path: string,
  labels: LabelArray,
  width: number,
  height: number,
  palette: Uint8Array = vocPalette(),
): Promise<void> {
  if (labels.length !== width * height) {
    throw new ImageError(`${path}: ${labels.length} labels do not fit ${width}×${height}`);
  }
  if (palette.length % 3 !== 0 || palette.length > 768) {
    throw new ImageError(`${path}: palette must hold at most 256 RGB triples, got ${palette.length} bytes`);
  }
  const fitsInByte = labels.every((label) => label < 256);
  const png = fitsInByte
    ? encode({
        width,
        height,
        channels: 1,
        depth: 8,
        data: Uint8Array.from(labels),
        palette: paletteEntries(palette),
      })
    : encode({ width, height, channels: 1, depth: 16, data: labels });
  await writeFileAtomic(path, png);
}

/** All 256 PLTE entries, unused ones black, so that every 8-bit label has a colour. */
function paletteEntries(palette: Uint8Array): number[][] {
  return Array.from({ length: 256 }, (_, i) =>
    3 * i < palette.length ? [palette[3 * i], palette[3 * i + 1], palette[3 * i + 2]] : [0, 0, 0],
  );
}

/**
 * Read a label PNG as raw indices: indexed PNGs (VOC `SegmentationClass`) give their palette indices, not
 * colours; greyscale PNGs (ADE20K, Pascal Context) give their grey values, 16-bit ones as a Uint16Array.
 */
export async function readLabelPng(path: string): Promise<LabelMap> {
  const bytes = await readImageBytes(path);
  if (!hasPngSignature(bytes)) throw new ImageError(`${path}: not a PNG file (label maps must be PNG)`);
  let png: ReturnType<typeof decode>;
  try {
    png = decode(bytes);
  } catch (err) {
    throw new ImageError(`${path}: corrupt PNG (${(err as Error).message})`);
  }
  const { width, height, depth, channels, data } = png;
  if (channels !== 1) {
    const kind = { 2: "greyscale+alpha", 3: "RGB", 4: "RGBA" }[channels] ?? `${channels}-channel`;
    throw new ImageError(
      `${path}: label PNGs must be indexed or greyscale, this one is ${kind} (convert colour-coded labels to indices first)`,
    );
  }
  if (depth === 16 || depth === 8) return { width, height, labels: data as LabelArray };
  return { width, height, labels: unpackSamples(data, width, height, depth) };
}

/** PNG packs 1/2/4-bit samples into bytes, most significant first, each row starting on a fresh byte. */
function unpackSamples(packed: ArrayLike<number>, width: number, height: number, depth: number): Uint8Array {
  const bytesPerRow = Math.ceil((width * depth) / 8);
  const mask = (1 << depth) - 1;
  const out = new Uint8Array(width * height);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const bit = x * depth;
      out[y * width + x] = (packed[y * bytesPerRow + (bit >> 3)] >> (8 - depth - (bit & 7))) & mask;
    }
  }
  return out;
}

export interface OverlayOptions {
  /** Weight of the label colour against the photo, 0 (photo only) to 1 (colours only). */
  alpha?: number;
  /** RGB triples indexed by label (default: `distinctColours`); labels past its end are left uncoloured. */
  palette?: Uint8Array;
  /** Name of each label; with them, a legend of the labels present is drawn below the photo. */
  classNames?: readonly string[];
  legend?: boolean;
}

const LEGEND_FONT = "sans 13";
const LEGEND_PADDING = 8;
const SWATCH_SIZE = 14;
const SWATCH_TEXT_GAP = 5;
const ENTRY_GAP = 14;
const ROW_SPACING = 6;
/** The legend may widen the canvas past a very narrow photo so that names stay readable. */
const LEGEND_MIN_WIDTH = 160;

/**
 * Blend the label colours over the photo, then, when class names are given, append a white strip listing each
 * label present as a colour swatch and its name (text rendered by sharp's pango).
 */
export async function renderOverlay(
  img: RgbImage,
  labels: LabelArray,
  options: OverlayOptions = {},
): Promise<RgbImage> {
  const { alpha = 0.5, classNames, legend = true } = options;
  if (labels.length !== img.width * img.height) {
    throw new ImageError(`overlay: ${labels.length} labels do not fit the ${img.width}×${img.height} image`);
  }
  if (!(alpha >= 0 && alpha <= 1)) throw new RangeError(`overlay alpha must be in [0, 1], got ${alpha}`);
  const present = [...new Set(labels)].sort((a, b) => a - b);
  const palette =
    options.palette ?? distinctColours(Math.max(classNames?.length ?? 0, (present.at(-1) ?? 0) + 1));
  const blended = new Uint8Array(img.data.length);
  for (let p = 0; p < labels.length; p++) {
    const colour = 3 * labels[p];
    for (let c = 0; c < 3; c++) {
      const photo = img.data[3 * p + c];
      blended[3 * p + c] =
        colour + 2 < palette.length ? Math.round(photo * (1 - alpha) + palette[colour + c] * alpha) : photo;
    }
  }
  const named = present.filter((label) => classNames?.[label] && 3 * label + 2 < palette.length);
  if (!legend || !classNames || named.length === 0) {
    return { width: img.width, height: img.height, data: blended };
  }
  return appendLegend({ ...img, data: blended }, named, classNames, palette);
}

async function appendLegend(
  img: RgbImage,
  labels: number[],
  classNames: readonly string[],
  palette: Uint8Array,
): Promise<RgbImage> {
  const width = Math.max(img.width, LEGEND_MIN_WIDTH);
  const texts = await Promise.all(labels.map((label) => renderText(classNames[label])));
  const rowHeight = Math.max(SWATCH_SIZE, ...texts.map((text) => text.height)) + ROW_SPACING;
  const layers: SharpOverlay[] = [
    {
      input: Buffer.from(img.data),
      raw: { width: img.width, height: img.height, channels: 3 },
      top: 0,
      left: 0,
    },
  ];
  let left = LEGEND_PADDING;
  let rowTop = img.height + LEGEND_PADDING;
  for (const [i, label] of labels.entries()) {
    const text = texts[i];
    if (left > LEGEND_PADDING && left + SWATCH_SIZE + SWATCH_TEXT_GAP + text.width > width - LEGEND_PADDING) {
      left = LEGEND_PADDING;
      rowTop += rowHeight;
    }
    const [r, g, b] = palette.subarray(3 * label, 3 * label + 3);
    const swatch = { width: SWATCH_SIZE, height: SWATCH_SIZE, channels: 3 as const, background: { r, g, b } };
    layers.push({ input: { create: swatch }, top: rowTop + Math.floor((rowHeight - SWATCH_SIZE) / 2), left });
    const textLeft = left + SWATCH_SIZE + SWATCH_TEXT_GAP;
    const textTop = rowTop + Math.floor((rowHeight - text.height) / 2);
    layers.push({ input: await cropToWidth(text, width - textLeft), top: textTop, left: textLeft });
    left = textLeft + text.width + ENTRY_GAP;
  }
  return composeOnWhite(width, rowTop + rowHeight + LEGEND_PADDING, layers);
}

/** Layers (images, swatches, texts) composited on a white width × height canvas, as RGB. */
export function composeOnWhite(width: number, height: number, layers: SharpOverlay[]): Promise<RgbImage> {
  return rawRgb(sharp({ create: { width, height, channels: 3, background: "#ffffff" } }).composite(layers));
}

/** A sharp pipeline's result as an RgbImage. */
export async function rawRgb(pipeline: Sharp): Promise<RgbImage> {
  const { data, info } = await pipeline.removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return {
    width: info.width,
    height: info.height,
    data: new Uint8Array(data.buffer, data.byteOffset, data.length),
  };
}

/** A line of black text on a transparent background, PNG-encoded. */
export interface RenderedText {
  png: Buffer;
  width: number;
  height: number;
}

/** The text is escaped because sharp hands it to pango as markup. */
export async function renderText(name: string): Promise<RenderedText> {
  const markup = name.replace(/&/g, "&amp;").replace(/</g, "&lt;").replace(/>/g, "&gt;");
  const { data, info } = await sharp({ text: { text: markup, font: LEGEND_FONT, dpi: 72, rgba: true } })
    .png()
    .toBuffer({ resolveWithObject: true });
  return { png: data, width: info.width, height: info.height };
}

/** A text longer than its space is wide gets cut off rather than overflowing the canvas. */
export async function cropToWidth(text: RenderedText, width: number): Promise<Buffer> {
  if (text.width <= width) return text.png;
  return sharp(text.png).extract({ left: 0, top: 0, width, height: text.height }).png().toBuffer();
}
