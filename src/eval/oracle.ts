/**
 * The pseudo-mask oracle (the paper's ablation table): label every mask with the ground-truth class it overlaps
 * most, then score the resulting map with mmseg's mIoU. It measures how good the masks could be if every mask
 * were named perfectly — a diagnostic of the feature source, never a score of the model.
 */
import { IoUAccumulator, type SegmentationMetrics } from "./miou.js";

export interface OracleOptions {
  ignoreIndex?: number;
  /** Score without background (class 0): background pixels neither vote nor count (reduce_zero_label). */
  withoutBackground?: boolean;
}

/** Per pixel, the ground-truth class that the pixel's mask overlaps most (ties: the lower class id). */
export function oracleLabelMap(
  maskIds: ArrayLike<number>,
  groundTruth: ArrayLike<number>,
  numClasses: number,
  options: OracleOptions = {},
): Uint16Array {
  if (maskIds.length !== groundTruth.length)
    throw new RangeError(
      `mask map has ${maskIds.length} pixels but the ground truth has ${groundTruth.length}`,
    );
  const ignore = options.ignoreIndex ?? 255;
  const firstClass = options.withoutBackground ? 1 : 0;
  let masks = 0;
  for (let i = 0; i < maskIds.length; i++) masks = Math.max(masks, maskIds[i] + 1);
  const votes = new Float64Array(masks * numClasses);
  for (let i = 0; i < maskIds.length; i++) {
    const g = groundTruth[i];
    if (g !== ignore && g >= firstClass && g < numClasses) votes[maskIds[i] * numClasses + g]++;
  }
  const classOfMask = new Uint16Array(masks);
  for (let m = 0; m < masks; m++) {
    let best = firstClass;
    for (let c = firstClass; c < numClasses; c++)
      if (votes[m * numClasses + c] > votes[m * numClasses + best]) best = c;
    classOfMask[m] = best;
  }
  return Uint16Array.from(maskIds, (m) => classOfMask[m]);
}

/** Accumulates the oracle's mIoU with and without background over a data set. */
export class OracleScore {
  private readonly withBackground: IoUAccumulator;
  private readonly withoutBackground: IoUAccumulator;

  constructor(
    readonly numClasses: number,
    private readonly ignoreIndex = 255,
  ) {
    this.withBackground = new IoUAccumulator(numClasses, { ignoreIndex });
    this.withoutBackground = new IoUAccumulator(numClasses - 1, { ignoreIndex, reduceZeroLabel: true });
  }

  add(maskIds: ArrayLike<number>, groundTruth: ArrayLike<number>): void {
    const options = { ignoreIndex: this.ignoreIndex };
    this.withBackground.add(oracleLabelMap(maskIds, groundTruth, this.numClasses, options), groundTruth);
    const foreground = oracleLabelMap(maskIds, groundTruth, this.numClasses, {
      ...options,
      withoutBackground: true,
    });
    this.withoutBackground.add(
      foreground.map((c) => c - 1),
      groundTruth,
    );
  }

  metrics(): { withBackground: SegmentationMetrics; withoutBackground: SegmentationMetrics } {
    return {
      withBackground: this.withBackground.metrics(),
      withoutBackground: this.withoutBackground.metrics(),
    };
  }
}
