/**
 * Score an S-Seg model on a segmentation set with mmseg's mIoU: with background (the threshold rule decides
 * background) and without (every pixel takes its best class; background pixels are not scored).
 */
import * as tf from "@tensorflow/tfjs";
import { openSegmentationDataset } from "../data/datasets.js";
import {
  classEmbeddings,
  classScores,
  DEFAULT_BACKGROUND_THRESHOLD,
  labelsFromScores,
  queryLabelMaps,
} from "../infer/semantic.js";
import { readImage, resizeBilinear, resizeNearest } from "../io/image.js";
import type { SSegModel } from "../model/sseg.js";
import { OracleScore } from "../pseudo/oracle.js";
import { ClipTokenizer } from "../text/tokenizer.js";
import { normalize } from "../train/batches.js";
import { IoUAccumulator } from "./miou.js";

export interface EvaluateOptions {
  /** Dataset name for openSegmentationDataset (default "folder": VOC layout + classes.txt). */
  dataset?: string;
  split?: string;
  backgroundThreshold?: number;
  /** Images per forward pass. */
  batchSize?: number;
  /** Score only the first n images. */
  limit?: number;
}

export interface EvaluationResult {
  images: number;
  miouWithBackground: number;
  miouWithoutBackground: number;
  /** Per-class IoU with background, by class name. */
  iou: Record<string, number>;
  /**
   * The model's own masks (each pixel's most confident query) labelled with their best ground-truth class, as
   * the pseudo-mask oracle scores K-Means clusters: mask quality without naming. With / without background.
   */
  maskOracle: { withBackground: number; withoutBackground: number };
}

/** Each image is resized to the model's square training size, and its predicted labels back to the label's size. */
export async function evaluate(
  model: SSegModel,
  root: string,
  options: EvaluateOptions = {},
): Promise<EvaluationResult> {
  const set = await openSegmentationDataset(options.dataset ?? "folder", root, {
    split: options.split ?? "val",
  });
  if (set.classes[0] !== "background")
    throw new Error(`${root}: class 0 is "${set.classes[0]}"; evaluation needs a background class 0`);
  const names = set.classes.slice(1);
  const ids = set.ids.slice(0, options.limit ?? set.ids.length);
  const size = model.config.imageSize;
  const batchSize = options.batchSize ?? 8;
  const threshold = options.backgroundThreshold ?? DEFAULT_BACKGROUND_THRESHOLD;
  const withBackground = new IoUAccumulator(set.classes.length);
  const withoutBackground = new IoUAccumulator(names.length, { reduceZeroLabel: true });
  const maskOracle = new OracleScore(set.classes.length);
  const wasTraining = model.training;
  model.eval();
  const classes = classEmbeddings(model, await ClipTokenizer.load(), names);
  try {
    for (let start = 0; start < ids.length; start += batchSize) {
      const chunk = ids.slice(start, start + batchSize);
      const pixels = new Float32Array(chunk.length * size * size * 3);
      for (const [i, id] of chunk.entries()) {
        const image = await readImage(set.imagePath(id));
        pixels.set(normalize(resizeBilinear(image, size, size).data), i * size * size * 3);
      }
      const images = tf.tensor4d(pixels, [chunk.length, size, size, 3]);
      const scores = classScores(model, images, classes);
      const queryMaps = queryLabelMaps(model, images);
      images.dispose();
      const [, , h, w] = scores.shape;
      const thresholded = labelsFromScores(scores, threshold);
      const forced = labelsFromScores(scores, 0);
      scores.dispose();
      for (const [i, id] of chunk.entries()) {
        const label = await set.readLabel(id);
        const upsample = (labels: Uint8Array) => resizeNearest(labels, w, h, label.width, label.height);
        withBackground.add(upsample(thresholded[i]), label.labels);
        // without background: predictions 1..C become 0..C−1, as the reduced labels are
        withoutBackground.add(
          upsample(forced[i]).map((l) => l - 1),
          label.labels,
        );
        maskOracle.add(upsample(queryMaps[i]), label.labels);
      }
    }
  } finally {
    classes.dispose();
    model.train(wasTraining);
  }
  const metrics = withBackground.metrics();
  return {
    images: ids.length,
    miouWithBackground: metrics.miou,
    miouWithoutBackground: withoutBackground.metrics().miou,
    iou: Object.fromEntries(set.classes.map((name, c) => [name, metrics.iou[c]])),
    maskOracle: {
      withBackground: maskOracle.metrics().withBackground.miou,
      withoutBackground: maskOracle.metrics().withoutBackground.miou,
    },
  };
}
