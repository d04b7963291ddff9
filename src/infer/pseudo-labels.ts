/**
 * S-Seg+'s training targets: S-Seg's hard labels for an image, as a VOC label map (0 background, i = the i-th
 * class, 255 ignore). With a minimum confidence, pixels whose winning score is below it are ignored rather than
 * taught; under the threshold rule background has no score of its own, so background pixels are always kept.
 */
import type { RgbImage } from "../io/pixels.js";
import type { BackgroundRule } from "../model/sseg.js";
import {
  type ImageSegmenter,
  labelsFrom,
  namesRanked,
  rankPixels,
  SegmenterError,
  type SegmentOptions,
} from "./segmenter.js";

/** The label VOC and mmseg skip in the loss and the metric. */
export const IGNORE_LABEL = 255;
/** Class ids must stay below the ignore label in an 8-bit PNG. */
export const MAX_PSEUDO_LABEL_CLASSES = IGNORE_LABEL - 1;

export interface PseudoLabels {
  width: number;
  height: number;
  /** 0 = background, i = classes[i − 1], IGNORE_LABEL = not confident enough. */
  labels: Uint8Array;
  /** Pixels per label id (index IGNORE_LABEL counts the ignored ones). */
  counts: number[];
}

export function pseudoLabels(
  segmenter: ImageSegmenter,
  image: RgbImage,
  classes: readonly string[],
  options: SegmentOptions & { minConfidence?: number } = {},
): PseudoLabels {
  if (classes.length > MAX_PSEUDO_LABEL_CLASSES)
    throw new SegmenterError(
      `pseudo-labels hold at most ${MAX_PSEUDO_LABEL_CLASSES} classes (8-bit PNG, 255 = ignore), got ${classes.length}`,
    );
  const { minConfidence = 0, ...segmentOptions } = options;
  const rule: BackgroundRule = segmenter.validate(classes, segmentOptions).background;
  const prediction = segmenter.predict(image, classes, { ...segmentOptions, background: rule });
  const ranked = rankPixels(prediction, classes.length, namesRanked(prediction, classes.length, rule));
  const hard = labelsFrom(ranked, classes.length, rule && "threshold" in rule ? rule.threshold : -Infinity);
  const backgroundScored = !(rule && "threshold" in rule);
  const counts = new Array<number>(IGNORE_LABEL + 1).fill(0);
  const labels = Uint8Array.from(hard, (label, p) => {
    const unsure = ranked.score[p] < minConfidence && (label > 0 || backgroundScored);
    const out = unsure ? IGNORE_LABEL : label;
    counts[out]++;
    return out;
  });
  return { width: image.width, height: image.height, labels, counts };
}
