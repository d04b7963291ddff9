/**
 * `sseg data stats`: what a data source holds. For image–caption sources: sample count, image sizes, caption
 * lengths, skipped samples. For segmentation sets: images per class, pixels per class, image sizes.
 */
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { openSegmentationDataset } from "./datasets.js";
import { openPairSource, type PairSourceOptions, summarizeSkipped } from "./pairs.js";

export interface SizeSummary {
  count: number;
  minWidth: number;
  maxWidth: number;
  minHeight: number;
  maxHeight: number;
  meanWidth: number;
  meanHeight: number;
}

export interface PairStats {
  kind: "pairs";
  samples: number;
  sizes: SizeSummary;
  /** Caption length in words → number of captions, for lengths 1…31 and "32+". */
  captionWords: Record<string, number>;
  skipped: number;
  skippedSummary: string;
}

export interface SegmentationStats {
  kind: "segmentation";
  dataset: string;
  images: number;
  sizes: SizeSummary;
  classes: { name: string; images: number; pixels: number }[];
  ignoredPixels: number;
}

/** Both halves of a `sseg data composites` folder. */
export interface CompositeStats {
  kind: "composites";
  train?: PairStats;
  val?: SegmentationStats;
}

class SizeAccumulator {
  private readonly widths: number[] = [];
  private readonly heights: number[] = [];

  add(width: number, height: number): void {
    this.widths.push(width);
    this.heights.push(height);
  }

  summary(): SizeSummary {
    const mean = (v: number[]) => (v.length ? v.reduce((a, b) => a + b, 0) / v.length : 0);
    const extreme = (v: number[], pick: (...x: number[]) => number) => (v.length ? pick(...v) : 0);
    return {
      count: this.widths.length,
      minWidth: extreme(this.widths, Math.min),
      maxWidth: extreme(this.widths, Math.max),
      minHeight: extreme(this.heights, Math.min),
      maxHeight: extreme(this.heights, Math.max),
      meanWidth: mean(this.widths),
      meanHeight: mean(this.heights),
    };
  }
}

const LONG_CAPTION = 32;

/** One pass over an image–caption source (shards, jsonl, CSV or a folder with captions.jsonl/csv). */
export async function pairStats(
  spec: string,
  options: Pick<PairSourceOptions, "strict" | "allowOutsidePaths"> & {
    /** Called after every sample read. */
    onProgress?: (samples: number) => void;
  } = {},
): Promise<PairStats> {
  const { onProgress, ...sourceOptions } = options;
  const source = await openPairSource(spec, sourceOptions);
  const sizes = new SizeAccumulator();
  const captionWords: Record<string, number> = {};
  let samples = 0;
  for await (const pair of source) {
    samples++;
    sizes.add(pair.image.width, pair.image.height);
    const words = pair.caption.split(/\s+/).filter(Boolean).length;
    const bucket = words >= LONG_CAPTION ? `${LONG_CAPTION}+` : String(words);
    captionWords[bucket] = (captionWords[bucket] ?? 0) + 1;
    onProgress?.(samples);
  }
  return {
    kind: "pairs",
    samples,
    sizes: sizes.summary(),
    captionWords,
    skipped: source.skipped.length,
    skippedSummary: summarizeSkipped(source.skipped),
  };
}

/** One pass over a segmentation set's labels: per class, the images it appears in and its pixels. */
export async function segmentationStats(
  name: string,
  root: string,
  split = "val",
): Promise<SegmentationStats> {
  const set = await openSegmentationDataset(name, root, { split });
  const sizes = new SizeAccumulator();
  const images = new Float64Array(set.numClasses);
  const pixels = new Float64Array(set.numClasses);
  let ignoredPixels = 0;
  for (const id of set.ids) {
    const label = await set.readLabel(id);
    sizes.add(label.width, label.height);
    const seen = new Uint8Array(set.numClasses);
    for (const raw of label.labels) {
      // Count in the protocol's class space: reduce_zero_label drops 0 and shifts the rest down.
      const c = set.reduceZeroLabel
        ? raw === 0 || raw === set.ignoreIndex
          ? set.ignoreIndex
          : raw - 1
        : raw;
      if (c === set.ignoreIndex || c >= set.numClasses) {
        ignoredPixels++;
        continue;
      }
      pixels[c]++;
      seen[c] = 1;
    }
    for (let c = 0; c < set.numClasses; c++) images[c] += seen[c];
  }
  return {
    kind: "segmentation",
    dataset: set.name,
    images: set.ids.length,
    sizes: sizes.summary(),
    classes: set.classes.map((name, c) => ({ name, images: images[c], pixels: pixels[c] })),
    ignoredPixels,
  };
}

/** Whether `dir` is the output of `sseg data composites` (it has the manifest). */
export function isCompositesFolder(dir: string): boolean {
  return existsSync(join(dir, "composites.json"));
}

/** Pair statistics of a composites folder's training shards and per-class counts of its validation set. */
export async function compositeStats(dir: string): Promise<CompositeStats> {
  const manifest = JSON.parse(await readFile(join(dir, "composites.json"), "utf8"));
  const shards: string[] = manifest.train?.shards ?? [];
  const hasVal = existsSync(join(dir, "val", "ImageSets"));
  return {
    kind: "composites",
    train: shards.length > 0 ? await pairStats(shardPattern(join(dir, "train"), shards.length)) : undefined,
    val: hasVal ? await segmentationStats("folder", join(dir, "val")) : undefined,
  };
}

/** `dir/{00000..0000N}.tar` for shards numbered from 0. */
export function shardPattern(dir: string, count: number): string {
  const last = String(count - 1).padStart(5, "0");
  return count === 1 ? join(dir, "00000.tar") : join(dir, `{00000..${last}}.tar`);
}
