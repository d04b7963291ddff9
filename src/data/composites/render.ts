/**
 * One composite: a random crop of a background photo with 1–3 cut-outs pasted on it at random scale, position
 * and flip, and its ground truth — the class of the topmost object where alpha ≥ 128, background 0, and 255
 * (ignored) on the soft rim of each cut-out and on a thin band around every object, as PASCAL VOC marks its
 * object boundaries.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import sharp from "sharp";
import type { Rng } from "../../engine/rng.js";
import type { RgbImage } from "../../io/pixels.js";
import type { BackgroundEntry, Catalog, Split, StampEntry } from "./catalog.js";

export const IGNORE_LABEL = 255;

export interface RenderOptions {
  /** Side of the square composite in pixels. */
  size: number;
  /** Half-width in pixels of the ignored band around each object's boundary (VOC's band is ~5 px at 500 px). */
  boundaryRadius: number;
  /** Probability that a training object is a training-only stamp (no vocabulary class). */
  trainingOnlyProbability: number;
}

export interface LoadedStamp {
  entry: StampEntry;
  /** 1-based class index (0 for training-only stamps). */
  classIndex: number;
  png: Uint8Array;
  width: number;
  height: number;
  ownCaption: string;
}

export interface LoadedBackground {
  entry: BackgroundEntry;
  /** Decoded and shrunk so that its shorter side is at most 4× the composite size. */
  image: RgbImage;
}

/** The stamps and backgrounds of one split, decoded once. */
export interface SplitAssets {
  split: Split;
  /** Stamps of each vocabulary class, indexed by class index − 1 (classes without stamps stay empty). */
  byClass: LoadedStamp[][];
  trainingOnly: LoadedStamp[];
  backgrounds: LoadedBackground[];
}

export interface PlacedObject {
  stamp: string;
  class: string | null;
  name: string;
  /** Left, top, width, height in composite pixels (may reach outside the frame). */
  box: [number, number, number, number];
  flipped: boolean;
}

export interface Composite {
  image: RgbImage;
  /** Ground truth (class indices, 0 background, 255 ignore). */
  labels: Uint8Array;
  objects: PlacedObject[];
  /** Stamps as drawn, for captions. */
  stamps: LoadedStamp[];
  background: { path: string; scene: string; crop: [number, number, number, number]; flipped: boolean };
}

/** Relative long side of one object, drawn uniformly; shrunk when several objects share the frame. */
const SCALE_RANGE = [0.35, 0.8] as const;
const SCALE_BY_COUNT = [1, 1, 0.8, 0.7];
/** Never blow a small stamp up more than this. */
const MAX_UPSCALE = 4;
/** Part of an object that may leave the frame. */
const MAX_OUTSIDE = 0.15;
/** Every object must keep this share of its pixels visible and this share of the frame. */
const MIN_VISIBLE = 0.4;
const MIN_AREA = 0.004;
const PLACEMENT_ATTEMPTS = 20;
/** Background crops: square, this share of the shorter side at least. */
const MIN_CROP_SIDE = 0.35;
/** Alpha at or above which a pixel belongs to an object; in (0, 255) below full it is the ignored soft rim. */
const OBJECT_ALPHA = 128;

/** Decode the stamps and backgrounds one split uses. */
export async function loadSplitAssets(catalog: Catalog, split: Split, size: number): Promise<SplitAssets> {
  const classIndex = new Map(catalog.classes.map((c, i) => [c.name, i + 1]));
  const byClass: LoadedStamp[][] = catalog.classes.map(() => []);
  const trainingOnly: LoadedStamp[] = [];
  for (const entry of catalog.stamps.filter((s) => s.split === split)) {
    const base = join(catalog.stampRoot, entry.path);
    const png = await readFile(`${base}.png`);
    const meta = await sharp(png).metadata();
    const ownCaption = (await readFile(`${base}.txt`, "utf8")).split(/\r?\n/)[0].trim() || `A ${entry.name}.`;
    const index = entry.class === undefined ? 0 : (classIndex.get(entry.class) ?? 0);
    const stamp = {
      entry,
      classIndex: index,
      png,
      width: meta.width ?? 0,
      height: meta.height ?? 0,
      ownCaption,
    };
    if (index === 0) trainingOnly.push(stamp);
    else byClass[index - 1].push(stamp);
  }
  const backgrounds: LoadedBackground[] = [];
  for (const entry of catalog.backgrounds.filter((b) => b.split === split)) {
    const { data, info } = await sharp(join(catalog.backgroundRoot, entry.path))
      .removeAlpha()
      .resize({ width: 4 * size, height: 4 * size, fit: "outside", withoutEnlargement: true })
      .raw()
      .toBuffer({ resolveWithObject: true });
    backgrounds.push({
      entry,
      image: { width: info.width, height: info.height, data: new Uint8Array(data) },
    });
  }
  return { split, byClass, trainingOnly, backgrounds };
}

/** Uniform in [low, high). */
function between(rng: Rng, low: number, high: number): number {
  return low + (high - low) * rng.uniform();
}

function pickStamp(assets: SplitAssets, rng: Rng, options: RenderOptions): LoadedStamp {
  if (assets.trainingOnly.length > 0 && rng.uniform() < options.trainingOnlyProbability)
    return assets.trainingOnly[rng.int(assets.trainingOnly.length)];
  const classes = assets.byClass.filter((stamps) => stamps.length > 0);
  const stamps = classes[rng.int(classes.length)];
  return stamps[rng.int(stamps.length)];
}

async function cropBackground(
  background: LoadedBackground,
  rng: Rng,
  size: number,
): Promise<{ image: RgbImage; crop: [number, number, number, number]; flipped: boolean }> {
  const { width, height, data } = background.image;
  const shorter = Math.min(width, height);
  const side = Math.max(1, Math.round(shorter * between(rng, MIN_CROP_SIDE, 1)));
  const left = rng.int(width - side + 1);
  const top = rng.int(height - side + 1);
  const flipped = rng.uniform() < 0.5;
  let pipeline = sharp(data, { raw: { width, height, channels: 3 } })
    .extract({ left, top, width: side, height: side })
    .resize(size, size, { fit: "fill" });
  if (flipped) pipeline = pipeline.flop();
  const pixels = await pipeline.raw().toBuffer();
  return {
    image: { width: size, height: size, data: new Uint8Array(pixels) },
    crop: [left, top, side, side],
    flipped,
  };
}

/** The stamp resized to (width, height), optionally mirrored, as straight-alpha RGBA. */
async function scaledStamp(
  stamp: LoadedStamp,
  width: number,
  height: number,
  flipped: boolean,
): Promise<Uint8Array> {
  let pipeline = sharp(stamp.png).ensureAlpha().resize(width, height, { fit: "fill" });
  if (flipped) pipeline = pipeline.flop();
  return new Uint8Array(await pipeline.raw().toBuffer());
}

/** A scaled stamp at its place in the frame. */
export interface Layer {
  stamp: LoadedStamp;
  rgba: Uint8Array;
  left: number;
  top: number;
  width: number;
  height: number;
  flipped: boolean;
}

/** For each pixel, the index+1 of the topmost layer whose alpha reaches `threshold` there (0 if none). */
function topmostLayer(layers: readonly Layer[], size: number, threshold: number): Uint8Array {
  const owner = new Uint8Array(size * size);
  layers.forEach((layer, i) => {
    forEachCoveredPixel(layer, size, (pixel, alpha) => {
      if (alpha >= threshold) owner[pixel] = i + 1;
    });
  });
  return owner;
}

/** Visit the frame pixels a layer overlaps, with the layer's alpha there. */
function forEachCoveredPixel(
  layer: Layer,
  size: number,
  visit: (pixel: number, alpha: number) => void,
): void {
  const x0 = Math.max(0, layer.left);
  const y0 = Math.max(0, layer.top);
  const x1 = Math.min(size, layer.left + layer.width);
  const y1 = Math.min(size, layer.top + layer.height);
  for (let y = y0; y < y1; y++) {
    const row = (y - layer.top) * layer.width - layer.left;
    for (let x = x0; x < x1; x++) visit(y * size + x, layer.rgba[4 * (row + x) + 3]);
  }
}

/** Whether every layer keeps enough visible pixels under the layers above it. */
function allVisible(layers: readonly Layer[], size: number): boolean {
  const owner = topmostLayer(layers, size, OBJECT_ALPHA);
  const visible = new Int32Array(layers.length);
  for (const o of owner) if (o > 0) visible[o - 1]++;
  return layers.every((layer, i) => {
    let own = 0;
    forEachCoveredPixel(layer, size, (_, alpha) => {
      if (alpha >= OBJECT_ALPHA) own++;
    });
    return own > 0 && visible[i] >= MIN_VISIBLE * own && visible[i] >= MIN_AREA * size * size;
  });
}

/** Alpha-blend the layers over the background, bottom to top. */
function blend(background: RgbImage, layers: readonly Layer[], size: number): RgbImage {
  const out = new Uint8Array(background.data);
  for (const layer of layers) {
    const x0 = Math.max(0, layer.left);
    const y0 = Math.max(0, layer.top);
    const x1 = Math.min(size, layer.left + layer.width);
    const y1 = Math.min(size, layer.top + layer.height);
    for (let y = y0; y < y1; y++) {
      for (let x = x0; x < x1; x++) {
        const s = 4 * ((y - layer.top) * layer.width + (x - layer.left));
        const a = layer.rgba[s + 3];
        if (a === 0) continue;
        const d = 3 * (y * size + x);
        for (let c = 0; c < 3; c++)
          out[d + c] = Math.round((layer.rgba[s + c] * a + out[d + c] * (255 - a)) / 255);
      }
    }
  }
  return { width: size, height: size, data: out };
}

/**
 * Ground truth: class of the topmost layer with alpha ≥ 128, else 0; 255 where the topmost partly transparent
 * layer makes the pixel a mixture (the soft rim) and within `radius` pixels of a boundary between objects or
 * between an object and the background.
 */
export function groundTruth(layers: readonly Layer[], size: number, radius: number): Uint8Array {
  const owner = topmostLayer(layers, size, OBJECT_ALPHA);
  const labels = new Uint8Array(size * size);
  for (let p = 0; p < labels.length; p++)
    labels[p] = owner[p] === 0 ? 0 : layers[owner[p] - 1].stamp.classIndex;
  // The rim: the topmost layer with any alpha there is neither fully opaque nor absent.
  const anyAlpha = topmostLayer(layers, size, 1);
  for (let p = 0; p < labels.length; p++) {
    const top = anyAlpha[p];
    if (top === 0) continue;
    const layer = layers[top - 1];
    const x = (p % size) - layer.left;
    const y = Math.floor(p / size) - layer.top;
    if (layer.rgba[4 * (y * layer.width + x) + 3] < 255) labels[p] = IGNORE_LABEL;
  }
  markBoundaries(owner, labels, size, radius);
  return labels;
}

/** Set `labels` to 255 within Chebyshev distance `radius` of a change in `owner`. */
function markBoundaries(owner: Uint8Array, labels: Uint8Array, size: number, radius: number): void {
  if (radius <= 0) return;
  const edge = new Uint8Array(size * size);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const p = y * size + x;
      if ((x + 1 < size && owner[p] !== owner[p + 1]) || (y + 1 < size && owner[p] !== owner[p + size])) {
        edge[p] = 1;
      }
    }
  }
  // An edge between p and its right/lower neighbour: mark the (radius-dilated) pixels on both sides.
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      if (!edge[y * size + x]) continue;
      for (let yy = Math.max(0, y - radius + 1); yy <= Math.min(size - 1, y + radius); yy++) {
        for (let xx = Math.max(0, x - radius + 1); xx <= Math.min(size - 1, x + radius); xx++) {
          labels[yy * size + xx] = IGNORE_LABEL;
        }
      }
    }
  }
}

/** Draw one composite of `assets` with `rng` (its own generator, so sample i never depends on sample i − 1). */
export async function renderComposite(
  assets: SplitAssets,
  rng: Rng,
  options: RenderOptions,
): Promise<Composite> {
  const { size } = options;
  const background = assets.backgrounds[rng.int(assets.backgrounds.length)];
  const crop = await cropBackground(background, rng, size);
  const count = 1 + rng.int(3);
  const layers: Layer[] = [];
  for (let n = 0; n < count; n++) {
    const stamp = pickStamp(assets, rng, options);
    const longSide = Math.min(
      size * between(rng, SCALE_RANGE[0], SCALE_RANGE[1]) * SCALE_BY_COUNT[count],
      MAX_UPSCALE * Math.max(stamp.width, stamp.height),
    );
    const scale = longSide / Math.max(stamp.width, stamp.height);
    const width = Math.max(1, Math.round(stamp.width * scale));
    const height = Math.max(1, Math.round(stamp.height * scale));
    const flipped = rng.uniform() < 0.5;
    const rgba = await scaledStamp(stamp, width, height, flipped);
    for (let attempt = 0; attempt < PLACEMENT_ATTEMPTS; attempt++) {
      const left = Math.round(between(rng, -MAX_OUTSIDE * width, size - (1 - MAX_OUTSIDE) * width));
      const top = Math.round(between(rng, -MAX_OUTSIDE * height, size - (1 - MAX_OUTSIDE) * height));
      const candidate = [...layers, { stamp, rgba, left, top, width, height, flipped }];
      if (allVisible(candidate, size)) {
        layers.push(candidate[candidate.length - 1]);
        break;
      }
    }
  }
  if (layers.length === 0) {
    // Nothing fitted (a tiny or mostly transparent stamp): draw again; the generator has moved on.
    return renderComposite(assets, rng, options);
  }
  return {
    image: blend(crop.image, layers, size),
    labels: assets.split === "val" ? groundTruth(layers, size, options.boundaryRadius) : new Uint8Array(0),
    objects: layers.map((l) => ({
      stamp: l.stamp.entry.path,
      class: l.stamp.entry.class ?? null,
      name: l.stamp.entry.name,
      box: [l.left, l.top, l.width, l.height],
      flipped: l.flipped,
    })),
    stamps: layers.map((l) => l.stamp),
    background: {
      path: background.entry.path,
      scene: background.entry.scene,
      crop: crop.crop,
      flipped: crop.flipped,
    },
  };
}
