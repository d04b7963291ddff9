/**
 * The pseudo-mask generator (S-Seg §2): features of a frozen feature source on a stride-8 grid, per-image
 * K-Means (K = 8), nearest upsampling to the image, one binary mask per cluster.
 */
import { type RgbImage, resizeBilinear } from "../io/pixels.js";
import type { MaskCache } from "./cache.js";
import type { FeatureSource } from "./features.js";
import { kmeans } from "./kmeans.js";
import { gridLabelsToMasks, type PseudoMasks } from "./masks.js";

export { MaskCache } from "./cache.js";
export { FEATURE_SOURCES, type FeatureSource, openFeatureSource } from "./features.js";
export { gridLabelsToMasks, type PseudoMasks } from "./masks.js";

export interface PseudoMaskOptions {
  /** Clusters per image (the paper's K = 8). */
  k?: number;
  /** Seed of the k-means++ initialisation. */
  seed?: number;
  /** Reuse grid labels computed before for the same pixels, source, K and seed. */
  cache?: MaskCache;
}

/**
 * Pseudo-masks of one image at its own size. Features are computed on the image shrunk to the nearest multiple
 * of the source's stride (at most stride − 1 pixels per side), then the masks are upsampled back.
 */
export function pseudoMasks(
  source: FeatureSource,
  image: RgbImage,
  options: PseudoMaskOptions = {},
): PseudoMasks {
  const k = options.k ?? 8;
  const s = source.stride;
  const width = Math.max(s, Math.floor(image.width / s) * s);
  const height = Math.max(s, Math.floor(image.height / s) * s);
  const input =
    width === image.width && height === image.height ? image : resizeBilinear(image, width, height);
  const seed = options.seed ?? 0;
  const key = options.cache?.key(input, `${source.name}|k=${k}|seed=${seed}`);
  const cached = key === undefined ? undefined : options.cache?.get(key);
  if (cached) return gridLabelsToMasks(cached.labels, cached.gridW, cached.gridH, image.width, image.height);
  const { features, gridH, gridW, dim } = source.extract(input);
  const n = gridH * gridW;
  const { labels } = kmeans(features, n, dim, { k: Math.min(k, n), seed, normalize: source.cosine });
  if (key !== undefined) options.cache?.set(key, { labels: Uint8Array.from(labels), gridW, gridH });
  return gridLabelsToMasks(labels, gridW, gridH, image.width, image.height);
}
