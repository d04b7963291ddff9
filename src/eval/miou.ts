/**
 * mmseg's segmentation metrics, exactly: dataset-level float64 histograms of intersection, union, prediction and
 * label areas (`mmseg.core.evaluation.metrics.intersect_and_union`), then IoU = ΣI / ΣU per class, mIoU = the
 * mean over classes with a non-empty union (nanmean), aAcc = ΣI / Σlabel. Pure math, no engine.
 */

export interface MetricOptions {
  /** Label value that is not scored (default 255). */
  ignoreIndex?: number;
  /** mmseg's reduce_zero_label: label 0 becomes ignored and every other label moves down by one. */
  reduceZeroLabel?: boolean;
}

export interface SegmentationMetrics {
  /** Per class IoU; NaN when the class never occurs in labels or predictions. */
  iou: Float64Array;
  /** Per class accuracy (ΣI / Σlabel); NaN when the class never occurs in the labels. */
  accuracy: Float64Array;
  miou: number;
  /** Mean of the per-class accuracies that are defined. */
  macc: number;
  /** Overall pixel accuracy. */
  aAcc: number;
}

export class IoUAccumulator {
  readonly intersection: Float64Array;
  readonly union: Float64Array;
  readonly predicted: Float64Array;
  readonly labelled: Float64Array;
  /** [label, prediction] pixel counts, row-major (numClasses²): what each class's pixels were called. */
  readonly confusion: Float64Array;

  constructor(
    readonly numClasses: number,
    private readonly options: MetricOptions = {},
  ) {
    if (!Number.isInteger(numClasses) || numClasses < 1)
      throw new RangeError(`numClasses must be a positive integer, got ${numClasses}`);
    this.intersection = new Float64Array(numClasses);
    this.union = new Float64Array(numClasses);
    this.predicted = new Float64Array(numClasses);
    this.labelled = new Float64Array(numClasses);
    this.confusion = new Float64Array(numClasses * numClasses);
  }

  /** Add one image: `prediction` and `label` are class ids per pixel, same length. */
  add(prediction: ArrayLike<number>, label: ArrayLike<number>): void {
    if (prediction.length !== label.length)
      throw new RangeError(
        `prediction has ${prediction.length} pixels but the label map has ${label.length}`,
      );
    const ignore = this.options.ignoreIndex ?? 255;
    const reduce = this.options.reduceZeroLabel ?? false;
    const c = this.numClasses;
    const intersect = new Float64Array(c);
    const pred = new Float64Array(c);
    const lab = new Float64Array(c);
    for (let i = 0; i < label.length; i++) {
      let l = label[i];
      if (reduce) l = l === 0 || l - 1 === 254 ? 255 : l - 1; // mmseg: 0 → 255, then −1, and 254 → 255
      if (l === ignore) continue;
      const p = prediction[i];
      // torch.histc over [0, C − 1] drops values outside the range.
      if (p >= 0 && p < c) pred[p]++;
      if (l >= 0 && l < c) {
        lab[l]++;
        if (p === l) intersect[l]++;
        if (p >= 0 && p < c) this.confusion[l * c + p]++;
      }
    }
    for (let k = 0; k < c; k++) {
      this.intersection[k] += intersect[k];
      this.predicted[k] += pred[k];
      this.labelled[k] += lab[k];
      this.union[k] += pred[k] + lab[k] - intersect[k];
    }
  }

  metrics(): SegmentationMetrics {
    const c = this.numClasses;
    const iou = new Float64Array(c);
    const accuracy = new Float64Array(c);
    for (let k = 0; k < c; k++) {
      iou[k] = this.intersection[k] / this.union[k];
      accuracy[k] = this.intersection[k] / this.labelled[k];
    }
    const sum = (a: Float64Array) => a.reduce((s, v) => s + v, 0);
    return {
      iou,
      accuracy,
      miou: nanmean(iou),
      macc: nanmean(accuracy),
      aAcc: sum(this.intersection) / sum(this.labelled),
    };
  }
}

function nanmean(values: Float64Array): number {
  let total = 0;
  let count = 0;
  for (const v of values) {
    if (!Number.isNaN(v)) {
      total += v;
      count++;
    }
  }
  return count === 0 ? Number.NaN : total / count;
}
