/**
 * Score a segmenter on a segmentation set with mmseg's metrics, through the same `Segmenter.predict` that
 * `segment()` uses (one forward pass per image or window batch). Protocols (method spec §9):
 * - with background (sets whose class 0 is background): the background rule decides class 0;
 * - without background: every pixel takes its best class and background pixels are not scored
 *   (reduce_zero_label), for every set.
 * Also: the model's own masks labelled by the oracle (mask quality without naming), and optionally the
 * with-background mIoU over a sweep of thresholds (to tune the rule).
 */
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import { openSegmentationDataset } from "../data/datasets.js";
import {
  type ImageSegmenter,
  labelsFrom,
  namesRanked,
  rankPixels,
  type SegmentOptions,
} from "../infer/segmenter.js";
import { readImage } from "../io/image.js";
import { writeLabelPng } from "../io/label-png.js";
import type { BackgroundRule } from "../model/sseg.js";
import { IoUAccumulator, type SegmentationMetrics } from "./miou.js";
import { OracleScore } from "./oracle.js";

export interface EvaluateOptions {
  /** Dataset name for openSegmentationDataset (default "folder": VOC layout + classes.txt). */
  dataset?: string;
  split?: string;
  /** Inference settings (mode, short side, templates, background rule); default: the model's. */
  segment?: SegmentOptions;
  /** Score only the first n images. */
  limit?: number;
  /** Also score these background thresholds (with background), e.g. to tune the rule. */
  thresholds?: readonly number[];
  /**
   * Call some classes by other words ("truck" → "vehicle"): the prompts change, the labels and the names in the
   * result do not (e.g. to measure classes under general words their training captions never used for them).
   */
  rename?: Record<string, string>;
  /** Write each image's predicted label PNG (0 = background, i = class i) here. */
  savePredictions?: string;
  onProgress?: (done: number, total: number) => void;
}

/**
 * Whether the model names what an image holds, apart from where: image-level top-1 (the class with the highest
 * score anywhere in the image is one the image holds), and per name the pixels predicted (with background) and
 * labelled — an over-predicted class or a background that never wins shows here first.
 */
export interface NamingDiagnostics {
  /** Images with at least one labelled class whose top-scoring class is among them, as a fraction. */
  imageTop1: number;
  /** Mean cosine between different queries' embeddings within an image (→ 1: the queries do not differ). */
  queryCosine: number;
  /** Per name (background first): predicted and labelled pixels. */
  pixels: Record<string, { predicted: number; labelled: number }>;
  /** Per name (background first): the names its labelled pixels were given, with pixel counts (non-zero only). */
  calledAs: Record<string, Record<string, number>>;
  /** All labelled object pixels by what they were called (fractions summing to 1), and background's false alarms. */
  pixelSplit: PixelSplit;
}

export interface PixelSplit {
  /** Object pixels given their own class. */
  named: number;
  /** Object pixels called background. */
  background: number;
  /** Object pixels given another object class. */
  otherClass: number;
  /** Background pixels given an object class. */
  backgroundCalledObject: number;
}

export interface Scores {
  miou: number;
  /** Overall pixel accuracy. */
  aAcc: number;
  /** Per class IoU by name (NaN: the class occurs in neither labels nor predictions). */
  iou: Record<string, number>;
}

export interface EvaluationResult {
  dataset: string;
  split: string;
  images: number;
  /** Images that could not be scored, with the reason. */
  failed: { id: string; reason: string }[];
  /** The background rule scored "with background". */
  background: BackgroundRule;
  /** Undefined for sets without a background class (e.g. Context-59). */
  withBackground?: Scores;
  withoutBackground: Scores;
  /** Naming diagnostics (sets with a background class): see NamingDiagnostics. */
  naming?: NamingDiagnostics;
  /**
   * The model's own masks (each pixel's most confident query) labelled with their best ground-truth class, as
   * the pseudo-mask oracle scores K-Means clusters: mask quality without naming. mIoU with / without background.
   */
  maskOracle: { withBackground: number; withoutBackground: number };
  /** With `thresholds`: mIoU with background at each. */
  thresholdCurve?: { threshold: number; miou: number }[];
}

export async function evaluate(
  segmenter: ImageSegmenter,
  root: string,
  options: EvaluateOptions = {},
): Promise<EvaluationResult> {
  const set = await openSegmentationDataset(options.dataset ?? "folder", root, {
    split: options.split ?? "val",
  });
  const hasBackground = !set.reduceZeroLabel && set.classes[0] === "background";
  const names = hasBackground ? set.classes.slice(1) : [...set.classes];
  const ids = set.ids.slice(0, options.limit ?? set.ids.length);
  const rename = options.rename ?? {};
  const unknown = Object.keys(rename).filter((name) => !names.includes(name));
  if (unknown.length > 0)
    throw new Error(`rename: ${unknown.join(", ")} is not a class of ${root} (${names.join(", ")})`);
  const prompts = names.map((name) => rename[name] ?? name);
  const background = options.segment?.background ?? segmenter.defaults.background;
  const segmentOptions = { ...options.segment, background };
  const ignoreIndex = set.ignoreIndex;
  const withBackground = new IoUAccumulator(names.length + 1, { ignoreIndex });
  const withoutBackground = new IoUAccumulator(names.length, { ignoreIndex, reduceZeroLabel: true });
  const oracle = new OracleScore(names.length + 1, ignoreIndex);
  const sweep = (options.thresholds ?? []).map((threshold) => ({
    threshold,
    scores: new IoUAccumulator(names.length + 1, { ignoreIndex }),
  }));
  const failed: EvaluationResult["failed"] = [];
  const predictedPixels = new Float64Array(names.length + 1);
  const labelledPixels = new Float64Array(names.length + 1);
  let top1 = 0;
  let imagesWithClasses = 0;
  let cosineSum = 0;
  if (options.savePredictions) await mkdir(options.savePredictions, { recursive: true });
  for (const [done, id] of ids.entries()) {
    try {
      const [image, label] = await Promise.all([readImage(set.imagePath(id)), set.readLabel(id)]);
      if (image.width !== label.width || image.height !== label.height)
        throw new Error(
          `${set.labelPath(id)}: label is ${label.width}×${label.height} but its image is ${image.width}×${image.height}`,
        );
      const prediction = segmenter.predict(image, prompts, segmentOptions);
      const words = namesRanked(prediction, names.length, background);
      const ranked = rankPixels(prediction, names.length, words);
      const forced = words === names.length ? ranked : rankPixels(prediction, names.length, names.length);
      const labels = labelsFrom(
        ranked,
        names.length,
        background && "threshold" in background ? background.threshold : -Infinity,
      );
      // without background: predictions 0..C−1, as the reduced labels are
      withoutBackground.add(forced.best, label.labels);
      if (hasBackground) {
        withBackground.add(labels, label.labels);
        for (let p = 0; p < labels.length; p++) {
          predictedPixels[labels[p]]++;
          if (label.labels[p] <= names.length) labelledPixels[label.labels[p]]++;
        }
        const top = topClass(prediction.scores, prediction.names.length, names.length);
        const present = new Set(label.labels);
        if ([...present].some((v) => v >= 1 && v <= names.length)) {
          imagesWithClasses++;
          if (present.has(top + 1)) top1++;
        }
        for (const point of sweep)
          point.scores.add(labelsFrom(forced, names.length, point.threshold), label.labels);
      }
      oracle.add(prediction.queries, label.labels);
      cosineSum += prediction.queryCosine;
      if (options.savePredictions)
        await writeLabelPng(join(options.savePredictions, `${id}.png`), labels, image.width, image.height);
    } catch (err) {
      failed.push({ id, reason: (err as Error).message });
    }
    options.onProgress?.(done + 1, ids.length);
  }
  const oracleMetrics = oracle.metrics();
  return {
    dataset: set.name,
    split: set.split,
    images: ids.length - failed.length,
    failed,
    background,
    ...(hasBackground ? { withBackground: scores(withBackground.metrics(), ["background", ...names]) } : {}),
    withoutBackground: scores(withoutBackground.metrics(), names),
    ...(hasBackground
      ? {
          naming: {
            imageTop1: imagesWithClasses > 0 ? top1 / imagesWithClasses : Number.NaN,
            queryCosine: cosineSum / Math.max(1, ids.length - failed.length),
            pixels: Object.fromEntries(
              ["background", ...names].map((name, c) => [
                name,
                { predicted: predictedPixels[c], labelled: labelledPixels[c] },
              ]),
            ),
            calledAs: calledAs(withBackground.confusion, ["background", ...names]),
            pixelSplit: pixelSplit(withBackground.confusion, names.length + 1),
          },
        }
      : {}),
    maskOracle: {
      withBackground: oracleMetrics.withBackground.miou,
      withoutBackground: oracleMetrics.withoutBackground.miou,
    },
    ...(hasBackground && sweep.length > 0
      ? {
          thresholdCurve: sweep.map((point) => ({
            threshold: point.threshold,
            miou: point.scores.metrics().miou,
          })),
        }
      : {}),
  };
}

/** The class (of the first `classCount` of `stride` scores per pixel) with the highest score at any pixel. */
function topClass(scores: Float32Array, stride: number, classCount: number): number {
  let best = 0;
  let bestScore = -Infinity;
  for (let p = 0; p < scores.length; p += stride)
    for (let c = 0; c < classCount; c++)
      if (scores[p + c] > bestScore) [best, bestScore] = [c, scores[p + c]];
  return best;
}

function scores(metrics: SegmentationMetrics, names: readonly string[]): Scores {
  return {
    miou: metrics.miou,
    aAcc: metrics.aAcc,
    iou: Object.fromEntries(names.map((name, c) => [name, metrics.iou[c]])),
  };
}

/** Where labelled pixels went, from a confusion histogram whose class 0 is background (rows: labels). */
export function pixelSplit(confusion: Float64Array, classes: number): PixelSplit {
  let named = 0;
  let background = 0;
  let otherClass = 0;
  for (let l = 1; l < classes; l++)
    for (let p = 0; p < classes; p++) {
      const n = confusion[l * classes + p];
      if (p === l) named += n;
      else if (p === 0) background += n;
      else otherClass += n;
    }
  let backgroundPixels = 0;
  for (let p = 0; p < classes; p++) backgroundPixels += confusion[p];
  const objects = named + background + otherClass;
  return {
    named: named / objects,
    background: background / objects,
    otherClass: otherClass / objects,
    backgroundCalledObject: (backgroundPixels - confusion[0]) / backgroundPixels,
  };
}

/** A confusion histogram by name: per labelled name, the names its pixels were given (zeros left out). */
function calledAs(confusion: Float64Array, names: readonly string[]): Record<string, Record<string, number>> {
  const c = names.length;
  return Object.fromEntries(
    names.map((name, l) => [
      name,
      Object.fromEntries(
        names.flatMap((other, p) => (confusion[l * c + p] > 0 ? [[other, confusion[l * c + p]]] : [])),
      ),
    ]),
  );
}
