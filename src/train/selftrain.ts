/**
 * `sseg selftrain train`: S-Seg+'s task for the shared training loop (loop.ts) — a UperNet fitted to the labels of
 * `sseg selftrain label` (a VOC-layout folder). Pixel-wise cross-entropy with ignore 255 on the logits upsampled to
 * the crop (mmseg's), plus the auxiliary FCN head's at its weight; AdamW with layer-wise learning-rate decay over
 * the ViT's blocks; mmseg's poly schedule with linear warm-up. Augmentation: S-Seg's own seeded RandomResizedCrop
 * and flip, applied to image and labels alike (not mmseg's resize-ratio crop), and with `photometric` mmseg's
 * photometric distortion of the crop.
 * Sample i of the stream is a pure function of the seed and i (epoch order, crop), so a resumed run continues exactly.
 */
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { applyCropToImage, applyCropToLabelMap, sampleCropTransform } from "../data/augment.js";
import { normalizeImage } from "../data/preprocess.js";
import { openVocLayout, type VocLayoutSet } from "../data/voc-layout.js";
import { evaluate } from "../eval/evaluate.js";
import { IGNORE_LABEL } from "../infer/pseudo-labels.js";
import { SelfTrainedSegmenter } from "../infer/selftrained.js";
import { readImage } from "../io/image.js";
import { readLabelPng } from "../io/label-png.js";
import { PRETRAINED_MOBILENET_FILE, readJson, readTensorFile } from "../model/files.js";
import { isMobileNetBackbone, MobileNetBackbone } from "../model/mobilenet-backbone.js";
import {
  loadPretrainedBackbone,
  type SelfTrainedConfig,
  UPERNET_CONFIGS,
  UperNet,
  type UperNetConfig,
} from "../model/upernet.js";
import { resize } from "../nn/resize.js";
import { distortColours, sampleRng } from "./batches.js";
import {
  DEFAULT_RUN_OPTIONS,
  type LoopSummary,
  type MicroBatch,
  type RunOptions,
  runTrainingLoop,
  type TrainingTask,
  type Validation,
} from "./loop.js";
import { AdamW, polyWithWarmup, weightDecayGroups } from "./optimizer.js";

export interface SelfTrainOptions extends RunOptions {
  /** `tiny`, `paper`, or the configuration itself. */
  config: string | UperNetConfig;
  /** The labelled folder `sseg selftrain label` wrote. */
  labels: string;
  /** Pretrained ViT weights for the backbone (MAE's for `paper`), .pth or .safetensors. */
  pretrained?: string;
  /**
   * Cross-entropy weight per class (mmseg's `class_weight`), in classes.txt order, or "balanced": each class at
   * 1/√(its share of the labelled pixels in labels.json), so that rare classes are not drowned by background;
   * "balanced:p" uses 1/share^p instead (p in (0, 1]; "balanced" is p = 0.5).
   */
  classWeights?: number[] | BalancedWeights;
}

export type BalancedWeights = "balanced" | `balanced:${number}`;

/** The power of a "balanced" / "balanced:p" weighting, or undefined if `spec` is neither. */
export function balancedPower(spec: string): number | undefined {
  if (spec === "balanced") return 0.5;
  const match = /^balanced:(.+)$/.exec(spec);
  if (!match) return undefined;
  const power = Number(match[1]);
  return Number.isFinite(power) && power > 0 && power <= 1 ? power : undefined;
}

export const DEFAULT_SELFTRAIN_OPTIONS = {
  ...DEFAULT_RUN_OPTIONS,
  config: "tiny",
  steps: 2000,
  batchSize: 16,
  scale: [0.25, 1] as [number, number],
};

export interface SelfTrainValidation {
  images: number;
  miouWithBackground?: number;
  miouWithoutBackground: number;
}

/** Consecutive unreadable samples after which the labelled folder is refused as broken. */
const MAX_SKIPS_IN_A_ROW = 100;

/**
 * mmseg's LayerDecayOptimizerConstructor for a ViT: block i at decay^(depth − i), the embeddings (patch, position,
 * CLS) at decay^(depth + 1), neck and heads at 1. Prefixes for weightDecayGroups, most specific first.
 */
export function layerDecayScales(depth: number, decay: number): Record<string, number> {
  const scales: Record<string, number> = {};
  for (let i = 0; i < depth; i++) scales[`backbone.blocks.${i}.`] = decay ** (depth - i);
  scales["backbone."] = decay ** (depth + 1);
  return scales;
}

/**
 * Cross-entropy over the pixels whose label is not IGNORE_LABEL (0 when all are ignored): their mean, or with
 * class weights torch's weighted mean Σ w[y]·CE / Σ w[y].
 */
export function crossEntropyIgnoring(
  logits: tf.Tensor4D,
  labels: tf.Tensor3D,
  classWeights?: readonly number[],
): tf.Scalar {
  return tf.tidy(() => {
    const classes = logits.shape[3];
    const valid = labels.notEqual(IGNORE_LABEL).cast("float32"); // [B, H, W]
    const targets = tf.oneHot(labels.mul(valid.cast("int32")).cast("int32"), classes); // ignored → class 0, masked below
    const perPixel = tf.neg(tf.logSoftmax(logits).mul(targets).sum(3)); // [B, H, W]
    const weights = classWeights
      ? targets
          .mul(tf.tensor1d(classWeights as number[]))
          .sum(3)
          .mul(valid)
      : valid;
    return perPixel.mul(weights).sum().div(weights.sum().maximum(1e-12)) as tf.Scalar;
  });
}

/** "balanced" class weights: 1/share^power (√ by default) of the labelled pixels, normalised to mean 1 over the classes present. */
export function balancedClassWeights(
  classes: readonly string[],
  pixels: Record<string, number>,
  power = 0.5,
): number[] {
  const total = classes.reduce((sum, name) => sum + (pixels[name] ?? 0), 0);
  if (total === 0) throw new Error("labels.json counts no labelled pixels to balance");
  // 1/√ as before for p = ½: earlier runs' recorded weights, and so their --resume, stay bit-identical
  const weight = (share: number) => (power === 0.5 ? 1 / Math.sqrt(share) : share ** -power);
  const raw = classes.map((name) => (pixels[name] ? weight(pixels[name] / total) : 0));
  const present = raw.filter((w) => w > 0);
  const mean = present.reduce((a, b) => a + b, 0) / present.length;
  const largest = present.reduce((a, b) => Math.max(a, b), 0);
  return raw.map((w) => (w > 0 ? w : largest) / mean); // a class with no pixels never is a target; keep it finite
}

class SelfTrainTask implements TrainingTask<SelfTrainValidation> {
  readonly model: UperNet;
  readonly optimizer: AdamW;
  readonly settings: { config: SelfTrainedConfig; options: Record<string, unknown> };
  readonly title: string;
  readonly validate?: () => Promise<Validation<SelfTrainValidation>>;
  private readonly skipped: { id: string; reason: string }[] = [];
  private nextIndex = 0;

  constructor(
    private readonly config: SelfTrainedConfig,
    private readonly set: VocLayoutSet,
    private readonly options: SelfTrainOptions,
    private readonly schedule: { lr: number; warmupSteps: number },
  ) {
    this.model = new UperNet(config, config.classes.length, { seed: options.seed });
    // a ViT decays its learning rate block by block; the pretrained MobileNetV2 trains at its own fraction
    const scales = isMobileNetBackbone(config.backbone)
      ? { "backbone.": config.backbone.lrScale }
      : layerDecayScales(config.backbone.depth, config.training.layerDecay);
    const groups = weightDecayGroups(this.model.namedParameters(), config.training.weightDecay, scales);
    this.optimizer = new AdamW(groups, { learningRate: schedule.lr });
    const { onStep: _a, shouldStop: _b, onEstimate: _c, ...given } = options;
    this.settings = { config, options: { ...given, ...schedule } };
    this.title = `S-Seg+ ${config.name} · ${options.labels}`;
    const { val, valLimit } = options;
    if (val !== undefined)
      this.validate = async () => {
        this.model.eval();
        const segmenter = new SelfTrainedSegmenter(
          this.model,
          config,
          "training",
          undefined,
          undefined,
          false,
        );
        try {
          const result = await evaluate(segmenter, val, { limit: valLimit });
          const record = {
            images: result.images,
            miouWithBackground: result.withBackground?.miou,
            miouWithoutBackground: result.withoutBackground.miou,
          };
          return { record, score: record.miouWithBackground ?? record.miouWithoutBackground };
        } finally {
          segmenter.dispose();
          this.model.train();
        }
      };
  }

  learningRate(step: number): number {
    return polyWithWarmup(step, {
      baseLr: this.schedule.lr,
      minLr: 0,
      warmupSteps: this.schedule.warmupSteps,
      warmupRatio: 1e-6,
      totalSteps: this.options.steps,
      power: 1,
    });
  }

  async initialize(): Promise<void> {
    const { backbone } = this.model;
    if (backbone instanceof MobileNetBackbone) {
      if (this.options.pretrained)
        throw new Error(
          "--pretrained: the MobileNetV2 backbone starts from its shipped weights; --pretrained is for a ViT",
        );
      if (backbone.config.pretrained)
        backbone.trunk.loadStateDict(await readTensorFile(PRETRAINED_MOBILENET_FILE));
    } else if (this.options.pretrained) await loadPretrainedBackbone(backbone, this.options.pretrained);
  }

  async openData(samplesSeen: number): Promise<void> {
    this.nextIndex = samplesSeen;
  }

  /** The labelled image at stream position `index`: a fresh permutation of the folder per epoch. */
  private idAt(index: number): string {
    const n = this.set.ids.length;
    const epoch = Math.floor(index / n);
    const order = Array.from({ length: n }, (_, i) => i);
    const rng = sampleRng(this.options.seed, epoch, "selftrain/epoch");
    for (let i = n - 1; i > 0; i--) {
      const j = rng.int(i + 1);
      [order[i], order[j]] = [order[j], order[i]];
    }
    return this.set.ids[order[index % n]];
  }

  /** One augmented crop and its labels, or the reason it cannot be read. */
  private async sample(index: number): Promise<{ image: Float32Array; labels: Int32Array }> {
    const id = this.idAt(index);
    const size = this.config.imageSize;
    const [image, label] = await Promise.all([
      readImage(this.set.imagePath(id)),
      readLabelPng(this.set.labelPath(id)),
    ]);
    if (image.width !== label.width || image.height !== label.height)
      throw new Error(`label ${label.width}×${label.height} but image ${image.width}×${image.height}`);
    const rng = sampleRng(this.options.seed, index, "selftrain/crop");
    const transform = sampleCropTransform(image.width, image.height, rng, {
      size,
      scale: this.options.scale,
    });
    const crop = distortColours(applyCropToImage(image, transform), this.options, index);
    const labels = applyCropToLabelMap(label, transform).labels;
    const classes = this.config.classes.length;
    const bad = labels.find((v) => v >= classes && v !== IGNORE_LABEL);
    if (bad !== undefined)
      throw new Error(`label ${bad} is not one of the ${classes} classes or ${IGNORE_LABEL}`);
    return { image: normalizeImage(crop.data), labels: Int32Array.from(labels) };
  }

  async nextBatch(): Promise<MicroBatch> {
    const size = this.config.imageSize;
    const { batchSize } = this.options;
    const images = new Float32Array(batchSize * size * size * 3);
    const labels = new Int32Array(batchSize * size * size);
    let skipsInARow = 0;
    for (let b = 0; b < batchSize; ) {
      const index = this.nextIndex++;
      try {
        const sample = await this.sample(index);
        images.set(sample.image, b * size * size * 3);
        labels.set(sample.labels, b * size * size);
        b++;
        skipsInARow = 0;
      } catch (err) {
        this.skipped.push({ id: this.idAt(index), reason: (err as Error).message });
        if (++skipsInARow >= MAX_SKIPS_IN_A_ROW)
          throw new Error(
            `${this.options.labels}: ${skipsInARow} samples in a row unreadable (last: ${(err as Error).message})`,
          );
      }
    }
    const imageTensor = tf.tensor4d(images, [batchSize, size, size, 3]);
    const labelTensor = tf.tensor3d(labels, [batchSize, size, size], "int32");
    const auxWeight = this.config.auxiliary.weight;
    return {
      samples: batchSize,
      loss: () => {
        const out = this.model.forward(imageTensor);
        const weights = Array.isArray(this.options.classWeights) ? this.options.classWeights : undefined;
        const decode = crossEntropyIgnoring(resize(out.logits, [size, size]), labelTensor, weights);
        const aux = crossEntropyIgnoring(
          resize(out.auxLogits as tf.Tensor4D, [size, size]),
          labelTensor,
          weights,
        );
        return { total: decode.add(aux.mul(auxWeight)) as tf.Scalar, parts: { decode, aux } };
      },
      dispose: () => tf.dispose([imageTensor, labelTensor]),
    };
  }

  skippedSamples(): string {
    if (this.skipped.length === 0) return "";
    const unique = new Map(this.skipped.map((s) => [s.id, s.reason]));
    const [first] = unique.entries();
    return `${unique.size} labelled image(s) skipped, e.g. ${first[0]}: ${first[1]}`;
  }

  async dispose(): Promise<void> {
    this.model.dispose();
    this.optimizer.dispose();
  }
}

/** Self-train (or resume) an S-Seg+ run on a labelled folder. */
export async function selfTrain(options: SelfTrainOptions): Promise<LoopSummary<SelfTrainValidation>> {
  const base = typeof options.config === "string" ? UPERNET_CONFIGS[options.config] : options.config;
  if (!base)
    throw new Error(
      `--config: unknown S-Seg+ configuration "${options.config}"; expected ${Object.keys(UPERNET_CONFIGS).join(" | ")}`,
    );
  const set = await openVocLayout(options.labels, "train");
  if (set.classes[0] !== "background")
    throw new Error(
      `${options.labels}/classes.txt: the first class must be "background" (as selftrain label writes it)`,
    );
  const config: SelfTrainedConfig = { ...base, classes: set.classes };
  let classWeights = options.classWeights;
  if (typeof classWeights === "string") {
    const power = balancedPower(classWeights);
    if (power === undefined)
      throw new Error(
        `class weights: expected "balanced" or "balanced:p" (0 < p ≤ 1), got "${classWeights}"`,
      );
    classWeights = balancedClassWeights(set.classes, await labelledPixels(options.labels), power);
  }
  if (classWeights && (classWeights.length !== set.classes.length || !classWeights.every((w) => w >= 0)))
    throw new Error(
      `class weights: expected ${set.classes.length} non-negative numbers (one per class of ${options.labels}/classes.txt), got ${classWeights.join(",")}`,
    );
  const lr = options.lr ?? base.training.lr;
  const warmupSteps = options.warmupSteps ?? base.training.warmupSteps;
  return runTrainingLoop(
    new SelfTrainTask(config, set, { ...options, classWeights }, { lr, warmupSteps }),
    options,
  );
}

/** The per-class pixel counts `sseg selftrain label` wrote into labels.json. */
async function labelledPixels(folder: string): Promise<Record<string, number>> {
  const file = join(folder, "labels.json");
  const summary = await readJson(file);
  if (typeof summary.pixels !== "object" || summary.pixels === null)
    throw new Error(`${file}: no "pixels" counts to balance the classes by`);
  return summary.pixels as Record<string, number>;
}
