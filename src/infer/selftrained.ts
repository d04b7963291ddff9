/**
 * The segmenter of an S-Seg+ model: a UperNet trained on S-Seg's labels, so a closed vocabulary — the classes it
 * was self-trained on (any subset of them, in any order), with background as a trained class of its own. The same
 * pipeline as S-Seg's segmenter (resize, windows, bilinear scores, background rule); only the scores differ: the
 * softmax over the model's classes instead of text similarities.
 */
import * as tf from "@tensorflow/tfjs";
import type { EngineInfo } from "../engine/backend.js";
import type { ImageInput, RgbImage } from "../io/pixels.js";
import type { ModelFiles } from "../model/files.js";
import type { BackgroundRule, InferenceConfig } from "../model/sseg.js";
import type { SelfTrainedConfig, UperNet } from "../model/upernet.js";
import { resize } from "../nn/resize.js";
import {
  currentEngine,
  type ImageSegmenter,
  overlaySettings,
  type Prediction,
  predictScores,
  type SegmentationResult,
  SegmenterError,
  type SegmentOptions,
  segmentImage,
} from "./segmenter.js";

/** The name of the trained background class, first in a self-trained model's classes. */
const BACKGROUND = "background";

export class SelfTrainedSegmenter implements ImageSegmenter {
  readonly trained = true;
  readonly engine: EngineInfo;
  private disposed = false;

  /** A segmenter around a model in eval mode; `ownsModel: false` leaves the model alive on dispose(). */
  constructor(
    readonly model: UperNet,
    readonly config: SelfTrainedConfig,
    readonly description: string,
    readonly files: ModelFiles | undefined,
    engine?: EngineInfo,
    private readonly ownsModel = true,
  ) {
    this.engine = engine ?? currentEngine();
  }

  /** The classes it can name (its training labels' classes without background). */
  get classes(): string[] {
    return this.config.classes.filter((name) => name !== BACKGROUND);
  }

  get defaults(): Required<InferenceConfig> {
    return {
      ...this.config.inference,
      templates: "simple",
      background: { classes: [BACKGROUND] },
      masks: "mix",
      flip: false,
      refine: false,
    };
  }

  segment(
    image: ImageInput,
    classNames: readonly string[],
    options: SegmentOptions = {},
  ): Promise<SegmentationResult> {
    return segmentImage(this, image, classNames, options);
  }

  validate(classNames: readonly string[], options: SegmentOptions = {}): Required<InferenceConfig> {
    if (this.disposed) throw new SegmenterError("this segmenter has been disposed");
    if (!Array.isArray(classNames) || classNames.length === 0)
      throw new SegmenterError("the vocabulary is empty; give at least one class name");
    const known = this.classes;
    const seen = new Set<string>();
    for (const name of classNames) {
      if (!known.includes(name))
        throw new SegmenterError(
          `"${name}" is not a class of this S-Seg+ model: a self-trained model names only the ${known.length} classes it was trained on (${known.join(", ")}); use an S-Seg model for other words`,
        );
      if (seen.has(name)) throw new SegmenterError(`class name "${name}" is given twice`);
      seen.add(name);
    }
    const settings = overlaySettings(this.defaults, options);
    checkClosedBackground(settings.background);
    return settings;
  }

  predict(image: RgbImage, classNames: readonly string[], options: SegmentOptions = {}): Prediction {
    const settings = this.validate(classNames, options);
    const columns = [...classNames, BACKGROUND].map((name) => this.config.classes.indexOf(name));
    return predictScores(image, [...classNames, BACKGROUND], this.config.classes.length, settings, (input) =>
      tf.tidy(() => {
        const [b, height, width] = input.shape;
        const logits = resize(this.model.forward(input).logits, [height, width]); // mmseg: logits, then softmax
        const probabilities = tf.softmax(logits); // [B, H, W, K]
        return {
          scores: tf.gather(probabilities, columns, 3) as tf.Tensor4D,
          // a closed-set model has no queries: its own class map stands in for the class-agnostic segmentation
          queries: probabilities.argMax(3) as tf.Tensor3D,
          queryLogits: probabilities.max(3) as tf.Tensor3D,
          queryCosine: tf.fill([b], Number.NaN) as tf.Tensor1D,
        };
      }),
    );
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    if (this.ownsModel) this.model.dispose();
  }
}

/** Background for a closed-set model: its trained class, a threshold on the class probabilities, or none. */
function checkClosedBackground(rule: BackgroundRule): void {
  if (rule === false) return;
  if (typeof rule === "object" && rule !== null && "threshold" in rule) {
    if (!(rule.threshold >= 0 && rule.threshold <= 1))
      throw new SegmenterError(`background threshold must be in [0, 1], got ${rule.threshold}`);
    return;
  }
  if (typeof rule === "object" && rule !== null && "classes" in rule && rule.classes.join() === BACKGROUND)
    return;
  throw new SegmenterError(
    `an S-Seg+ model's background is its trained "${BACKGROUND}" class, a threshold, or none; got ${JSON.stringify(rule)}`,
  );
}
