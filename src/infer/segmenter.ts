import * as tf from "@tensorflow/tfjs";
import { normalizeImage, resizeForTest } from "../data/preprocess.js";
import type { EngineInfo } from "../engine/backend.js";
import { decodeImage } from "../io/decode.js";
import { type ImageInput, type RgbImage, resizeNearest } from "../io/pixels.js";
import type { ModelFiles } from "../model/files.js";
import { classLabel, classWords, resolveTemplates } from "../model/prompts.js";
import type {
  BackgroundRule,
  InferenceConfig,
  MasksRule,
  SSegConfig,
  SSegModel,
  Templates,
} from "../model/sseg.js";
import { resizeChannelsLast } from "../nn/interpolation.js";
import type { ClipTokenizer } from "../text/tokenizer.js";
import { refineScores } from "./pamr.js";
import { classEmbeddings, type PixelPredictions, pixelPredictions } from "./semantic.js";

/** GroupViT's background threshold is per data set (0.95 VOC, 0.35 Context); this is the default until tuned. */
export const DEFAULT_BACKGROUND_THRESHOLD = 0.5;
/** The name of a region head's no-object class among a prediction's names (always last). */
export const NO_OBJECT = "(no object)";

/** The label map is a Uint16Array with 0 for background. */
export const MAX_CLASSES = 65535;
/** Sliding windows per forward pass: bounds memory (64 upsampled 448² masks per window) on long images. */
const WINDOWS_PER_PASS = 4;
/** Text embeddings kept for reuse, by (vocabulary, templates). */
const TEXT_CACHE_SIZE = 16;
/** Swin's four stages halve the map after a stride-4 stem: inputs are padded to multiples of 32. */
const SIZE_DIVISOR = 32;

export interface SegmentOptions {
  /** Prompt templates (default: the model's, else "simple" = "a photo of a {}."). */
  templates?: Templates;
  /** Background rule (default: the model's tuned rule, else a threshold of 0.5). */
  background?: BackgroundRule;
  mode?: "whole" | "slide";
  /** Sliding-window size and step, in pixels of the resized image. */
  crop?: number;
  stride?: number;
  /** The image's short side is resized to this before the model sees it. */
  shortSide?: number;
  /** "mix" (default) or "winner": see InferenceConfig.masks. */
  masks?: MasksRule;
  /** Also segment the mirrored image and average the scores (see InferenceConfig.flip). */
  flip?: boolean;
  /** Refine the score maps by the image's colours (PAMR; see InferenceConfig.refine). */
  refine?: boolean;
  /** Also return every class's score map. */
  scores?: boolean;
}

export interface Segment {
  label: string;
  /** Mean score of this class over its pixels. */
  score: number;
  /** 1 where the pixel has this label, row-major at the input's size. */
  mask: Uint8Array;
  pixels: number;
}

export interface SegmentationResult {
  width: number;
  height: number;
  classes: string[];
  /** Per pixel: 0 = background, i = classes[i − 1]. */
  labelMap: Uint16Array;
  /** The classes present, most pixels first. */
  segments: Segment[];
  /** With `scores: true`: class scores [C, H, W] in [0, 1]. */
  scores?: Float32Array;
  /** Wall time of this call. */
  milliseconds: number;
}

/** One forward pass's outputs at the input's own size, before any background rule. */
export interface Prediction {
  width: number;
  height: number;
  /** Scored names: the classes, then any background words. */
  names: string[];
  /** Scores [H, W, names.length], channels last. */
  scores: Float32Array;
  /** Each pixel's most confident query (window × queries + query in slide mode). */
  queries: Uint16Array;
  /** Mean cosine between the embeddings of different queries, averaged over the windows (a naming diagnostic). */
  queryCosine: number;
}

export class SegmenterError extends Error {
  override name = "SegmenterError";
}

/** The engine a segmenter built around an existing model runs on, when its caller did not report it. */
export function currentEngine(): EngineInfo {
  return {
    backend: tf.getBackend(),
    tfjsVersion: tf.version.tfjs,
    native: { reason: "not reported by the caller" },
  };
}

/**
 * What every segmenter offers — S-Seg's open-vocabulary one and S-Seg+'s closed-vocabulary one — and all that
 * `sseg segment`, `sseg eval` and the library's callers use.
 */
export interface ImageSegmenter {
  readonly description: string;
  readonly trained: boolean;
  readonly files: ModelFiles | undefined;
  readonly engine: EngineInfo;
  readonly defaults: Required<InferenceConfig>;
  segment(
    image: ImageInput,
    classNames: readonly string[],
    options?: SegmentOptions,
  ): Promise<SegmentationResult>;
  predict(image: RgbImage, classNames: readonly string[], options?: SegmentOptions): Prediction;
  validate(classNames: readonly string[], options?: SegmentOptions): Required<InferenceConfig>;
  dispose(): void;
}

/** Decode, predict, apply the background rule, name the segments: `segment()` of every segmenter. */
export async function segmentImage(
  segmenter: ImageSegmenter,
  image: ImageInput,
  classNames: readonly string[],
  options: SegmentOptions,
): Promise<SegmentationResult> {
  const started = performance.now();
  const rgb = await decodeImage(image);
  const background = options.background ?? segmenter.defaults.background;
  const prediction = segmenter.predict(rgb, classNames, options);
  const labelMap = applyBackground(prediction, classNames.length, background);
  return {
    width: rgb.width,
    height: rgb.height,
    classes: classNames.map(classLabel),
    labelMap,
    segments: segmentsOf(prediction, labelMap, classNames),
    ...(options.scores ? { scores: channelsFirst(prediction, classNames.length) } : {}),
    milliseconds: performance.now() - started,
  };
}

export class Segmenter implements ImageSegmenter {
  /** Where the weights came from, for logs. */
  readonly description: string;
  /** False for a randomly initialised model: its labels mean nothing. */
  readonly trained: boolean;
  /** The model's files (undefined when untrained); `sseg eval --tune-background` writes the tuned rule there. */
  readonly files: ModelFiles | undefined;
  readonly engine: EngineInfo;
  private readonly textCache = new Map<string, tf.Tensor2D>();
  private disposed = false;
  /** The last vocabulary (classes and background words) that passed checkVocabulary. */
  private checkedVocabulary: string | undefined;

  private readonly ownsModel: boolean;

  /** A segmenter around a model in eval mode; `ownsModel: false` leaves the model alive on dispose(). */
  constructor(
    readonly model: SSegModel,
    private readonly tokenizer: ClipTokenizer,
    info: {
      description: string;
      trained: boolean;
      files?: ModelFiles;
      engine?: EngineInfo;
      ownsModel?: boolean;
    },
  ) {
    this.description = info.description;
    this.trained = info.trained;
    this.files = info.files;
    this.engine = info.engine ?? currentEngine();
    this.ownsModel = info.ownsModel ?? true;
  }

  get config(): SSegConfig {
    return this.model.config;
  }

  /** The settings a call without options uses: the model's stored ones over the protocol's defaults. */
  get defaults(): Required<InferenceConfig> {
    const size = this.config.imageSize;
    return {
      shortSide: size,
      mode: "whole",
      crop: size,
      stride: size / 2,
      templates: "simple",
      background: { threshold: DEFAULT_BACKGROUND_THRESHOLD },
      masks: "mix",
      flip: false,
      refine: false,
      ...this.config.inference,
    };
  }

  /** Segment one image into the given classes; see `SegmentationResult`. */
  segment(
    image: ImageInput,
    classNames: readonly string[],
    options: SegmentOptions = {},
  ): Promise<SegmentationResult> {
    return segmentImage(this, image, classNames, options);
  }

  /**
   * Class scores and query map of a decoded image at its own size, from one forward pass (per window batch).
   * Background words of `options.background` are scored after the classes.
   */
  predict(image: RgbImage, classNames: readonly string[], options: SegmentOptions = {}): Prediction {
    const settings = this.validate(classNames, options);
    const words = [...classNames, ...backgroundWordsOf(settings.background)];
    const classes = this.textEmbeddings(words, resolveTemplates(settings.templates));
    const names = this.model.regionHead ? [...words, NO_OBJECT] : words;
    return predictScores(image, names, this.config.decoder.queries, settings, (input) =>
      pixelPredictions(this.model, input, classes, settings.masks),
    );
  }

  /** The settings a call would use; throws a `SegmenterError` for a bad vocabulary or option, before any work. */
  validate(classNames: readonly string[], options: SegmentOptions = {}): Required<InferenceConfig> {
    if (this.disposed) throw new SegmenterError("this segmenter has been disposed");
    const settings = overlaySettings(this.defaults, options);
    checkBackgroundRule(settings.background, this.model.regionHead !== null);
    const words = backgroundWordsOf(settings.background);
    // a batch segments many images with one vocabulary: tokenize and check it once, not per image
    const key = JSON.stringify([classNames, words]);
    if (key !== this.checkedVocabulary) {
      checkVocabulary(classNames, words, this.tokenizer);
      this.checkedVocabulary = key;
    }
    return settings;
  }

  /** Release the cached text embeddings and (unless borrowed) the model's weights. */
  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    for (const embedding of this.textCache.values()) embedding.dispose();
    this.textCache.clear();
    if (this.ownsModel) this.model.dispose();
  }

  /** Text embeddings of the names, cached by (names, templates): a repeated vocabulary encodes no text. */
  private textEmbeddings(names: readonly string[], templates: readonly string[]): tf.Tensor2D {
    const key = JSON.stringify([names, templates]);
    const cached = this.textCache.get(key);
    if (cached) {
      this.textCache.delete(key); // re-inserted as the most recent
      this.textCache.set(key, cached);
      return cached;
    }
    // a region head's no-object embedding competes with the names as one more row
    const head = this.model.regionHead;
    const embedding = tf.tidy(() => {
      const named = classEmbeddings(this.model, this.tokenizer, names, templates);
      return head ? (tf.concat([named, head.noObjectEmbedding()]) as tf.Tensor2D) : named;
    });
    this.textCache.set(key, embedding);
    if (this.textCache.size > TEXT_CACHE_SIZE) {
      const [oldest, tensor] = this.textCache.entries().next().value as [string, tf.Tensor2D];
      tensor.dispose();
      this.textCache.delete(oldest);
    }
    return embedding;
  }
}

/** A call's options over a model's defaults, sizes and modes checked; the background rule is each model's to check. */
export function overlaySettings(
  defaults: Required<InferenceConfig>,
  options: SegmentOptions,
): Required<InferenceConfig> {
  const settings = { ...defaults };
  for (const key of [
    "templates",
    "background",
    "mode",
    "crop",
    "stride",
    "shortSide",
    "masks",
    "flip",
    "refine",
  ] as const)
    if (options[key] !== undefined) Object.assign(settings, { [key]: options[key] });
  for (const key of ["shortSide", "crop", "stride"] as const)
    if (!Number.isInteger(settings[key]) || settings[key] < 1)
      throw new SegmenterError(`${key} must be a positive integer, got ${settings[key]}`);
  if (settings.stride > settings.crop)
    throw new SegmenterError(
      `stride ${settings.stride} is larger than crop ${settings.crop}: pixels would be skipped`,
    );
  if (settings.mode !== "whole" && settings.mode !== "slide")
    throw new SegmenterError(`mode must be "whole" or "slide", got "${settings.mode}"`);
  if (settings.masks !== "mix" && settings.masks !== "winner")
    throw new SegmenterError(`masks must be "mix" or "winner", got "${settings.masks}"`);
  for (const key of ["flip", "refine"] as const)
    if (typeof settings[key] !== "boolean")
      throw new SegmenterError(`${key} must be true or false, got ${JSON.stringify(settings[key])}`);
  return settings;
}

/** One forward pass over padded, normalised windows [B, H, W, 3]: per-pixel scores and query maps. */
export type WindowScorer = (input: tf.Tensor4D) => PixelPredictions;

/**
 * A prediction at the image's own size: resized for the test (`shortSide`), scored whole or in sliding windows,
 * with `flip` also mirrored, with `refine` refined by the resized image's colours, and the scores brought back to
 * the image's size.
 */
export function predictScores(
  image: RgbImage,
  names: string[],
  queryCount: number,
  settings: Required<InferenceConfig>,
  run: WindowScorer,
): Prediction {
  const resized = resizeForTest(image, settings.shortSide);
  const windows =
    settings.mode === "slide"
      ? slidingWindows(resized.width, resized.height, settings.crop, settings.stride)
      : [{ x: 0, y: 0, width: resized.width, height: resized.height }];
  const scorer = settings.flip ? withMirror(run) : run;
  const atTestSize = scoreWindows(resized, windows, names.length, queryCount, scorer);
  const scores = settings.refine ? refineScores(atTestSize.scores, names.length, resized) : atTestSize.scores;
  return {
    width: image.width,
    height: image.height,
    names,
    scores: resizeScores(scores, resized, image, names.length),
    queries: resizeNearest(atTestSize.queries, resized.width, resized.height, image.width, image.height),
    queryCosine: atTestSize.queryCosine,
  };
}

/**
 * mmseg's flip test: each window also runs mirrored (in the same batch), and its scores, mirrored back, are averaged
 * with the window's own; the query map and diagnostics stay the unmirrored pass's.
 */
export function withMirror(run: WindowScorer): WindowScorer {
  return (input) =>
    tf.tidy(() => {
      const b = input.shape[0];
      const both = run(tf.concat([input, tf.reverse(input, 2)]));
      const [own, mirrored] = tf.split(both.scores, 2);
      return {
        scores: own.add(tf.reverse(mirrored, 2)).div(2) as tf.Tensor4D,
        queries: both.queries.slice(0, b) as tf.Tensor3D,
        queryLogits: both.queryLogits.slice(0, b) as tf.Tensor3D,
        queryCosine: both.queryCosine.slice(0, b) as tf.Tensor1D,
      };
    });
}

/**
 * Scores [H, W, C] and query map of the resized image: windows (all of one size) run in batches, each padded
 * to a multiple of 32; overlapping windows' scores are averaged (mmseg's slide inference) and a pixel's query is
 * the one most confident over all windows covering it (numbered window × queryCount + query).
 */
export function scoreWindows(
  image: RgbImage,
  windows: Window[],
  classCount: number,
  queryCount: number,
  run: WindowScorer,
): { scores: Float32Array; queries: Uint16Array; queryCosine: number } {
  const { width, height } = image;
  const c = classCount;
  const sums = new Float32Array(width * height * c);
  const counts = new Uint16Array(width * height);
  const queries = new Uint16Array(width * height);
  const confidence = new Float32Array(width * height).fill(-Infinity);
  const normalized = normalizeImage(image.data);
  const [windowW, windowH] = [windows[0].width, windows[0].height];
  const [paddedW, paddedH] = [roundUp(windowW, SIZE_DIVISOR), roundUp(windowH, SIZE_DIVISOR)];
  let cosineSum = 0;
  for (let first = 0; first < windows.length; first += WINDOWS_PER_PASS) {
    const batch = windows.slice(first, first + WINDOWS_PER_PASS);
    const pixels = new Float32Array(batch.length * paddedH * paddedW * 3); // zero padding = the mean colour
    for (const [b, w] of batch.entries())
      for (let y = 0; y < windowH; y++) {
        const from = ((w.y + y) * width + w.x) * 3;
        pixels.set(normalized.subarray(from, from + windowW * 3), (b * paddedH + y) * paddedW * 3);
      }
    const input = tf.tensor4d(pixels, [batch.length, paddedH, paddedW, 3]);
    const out = run(input);
    const [scores, ids, best] = [out.scores.dataSync(), out.queries.dataSync(), out.queryLogits.dataSync()];
    for (const cosine of out.queryCosine.dataSync()) cosineSum += cosine;
    tf.dispose([input, out.scores, out.queries, out.queryLogits, out.queryCosine]);
    for (const [b, w] of batch.entries()) {
      for (let y = 0; y < windowH; y++)
        for (let x = 0; x < windowW; x++) {
          const source = (b * paddedH + y) * paddedW + x;
          const target = (w.y + y) * width + (w.x + x);
          counts[target]++;
          for (let k = 0; k < c; k++) sums[target * c + k] += scores[source * c + k];
          if (best[source] > confidence[target]) {
            confidence[target] = best[source];
            queries[target] = (first + b) * queryCount + ids[source];
          }
        }
    }
  }
  for (let p = 0; p < counts.length; p++) for (let k = 0; k < c; k++) sums[p * c + k] /= counts[p];
  return { scores: sums, queries, queryCosine: cosineSum / windows.length };
}

export interface Window {
  x: number;
  y: number;
  width: number;
  height: number;
}

/** mmseg's `slide_inference` windows: a grid at `stride`, the last row/column clamped to the border. */
export function slidingWindows(width: number, height: number, crop: number, stride: number): Window[] {
  const grid = (size: number) => Math.floor(Math.max(size - crop + stride - 1, 0) / stride) + 1;
  const windows: Window[] = [];
  for (let row = 0; row < grid(height); row++)
    for (let column = 0; column < grid(width); column++) {
      const y2 = Math.min(row * stride + crop, height);
      const x2 = Math.min(column * stride + crop, width);
      const y = Math.max(y2 - crop, 0);
      const x = Math.max(x2 - crop, 0);
      windows.push({ x, y, width: x2 - x, height: y2 - y });
    }
  return windows;
}

const roundUp = (n: number, multiple: number) => Math.ceil(n / multiple) * multiple;

/** Scores [h, w, C] at the test size → [H, W, C] at the image's own size (bilinear, align_corners=False). */
export function resizeScores(scores: Float32Array, from: RgbImage, to: RgbImage, c: number): Float32Array {
  if (from.width === to.width && from.height === to.height) return scores;
  return resizeChannelsLast(scores, [from.height, from.width, c], [to.height, to.width]);
}

/** Each pixel's best name among the first `considered`, its score, and the image's best class score. */
export interface RankedPixels {
  best: Uint16Array;
  score: Float32Array;
  /** The highest score any pixel gives one of the classes (not a background word). */
  imageMax: number;
}

export function rankPixels(prediction: Prediction, classCount: number, considered: number): RankedPixels {
  const { scores, names } = prediction;
  const n = names.length;
  const pixels = prediction.width * prediction.height;
  const best = new Uint16Array(pixels);
  const score = new Float32Array(pixels);
  let imageMax = -Infinity;
  for (let p = 0; p < pixels; p++) {
    let arg = 0;
    for (let k = 1; k < considered; k++) if (scores[p * n + k] > scores[p * n + arg]) arg = k;
    best[p] = arg;
    score[p] = scores[p * n + arg];
    if (arg < classCount && score[p] > imageMax) imageMax = score[p];
  }
  return { best, score, imageMax };
}

/**
 * Labels (0 background, class + 1) from ranked pixels. With a threshold, GroupViT's rule: the effective threshold
 * is min(θ, the image's highest class score), so the image's most confident pixel is never background. A pixel
 * whose best name is a background word (index ≥ classCount) is background.
 */
export function labelsFrom(ranked: RankedPixels, classCount: number, threshold = -Infinity): Uint16Array {
  const effective = Math.min(threshold, ranked.imageMax);
  return Uint16Array.from(ranked.best, (best, p) =>
    best < classCount && ranked.score[p] >= effective ? best + 1 : 0,
  );
}

/**
 * How many of a prediction's names a background rule ranks: all of them (background words, the no-object class)
 * for a rule that lets them win pixels, else only the classes.
 */
export function namesRanked(prediction: Prediction, classCount: number, rule: BackgroundRule): number {
  return rule && ("classes" in rule || "noObject" in rule) ? prediction.names.length : classCount;
}

/** The label map a background rule gives. */
export function applyBackground(
  prediction: Prediction,
  classCount: number,
  rule: BackgroundRule,
): Uint16Array {
  const ranked = rankPixels(prediction, classCount, namesRanked(prediction, classCount, rule));
  return labelsFrom(ranked, classCount, rule && "threshold" in rule ? rule.threshold : -Infinity);
}

export function segmentsOf(
  prediction: Prediction,
  labelMap: Uint16Array,
  classNames: readonly string[],
): Segment[] {
  const n = prediction.names.length;
  const pixels = new Float64Array(classNames.length + 1);
  const scoreSums = new Float64Array(classNames.length + 1);
  for (let p = 0; p < labelMap.length; p++) {
    const label = labelMap[p];
    pixels[label]++;
    if (label > 0) scoreSums[label] += prediction.scores[p * n + label - 1];
  }
  const segments: Segment[] = [];
  for (let label = 1; label <= classNames.length; label++) {
    if (pixels[label] === 0) continue;
    const mask = new Uint8Array(labelMap.length);
    for (let p = 0; p < labelMap.length; p++) if (labelMap[p] === label) mask[p] = 1;
    segments.push({
      label: classLabel(classNames[label - 1]),
      score: scoreSums[label] / pixels[label],
      mask,
      pixels: pixels[label],
    });
  }
  return segments.sort((a, b) => b.pixels - a.pixels);
}

/** The classes' scores [C, H, W] out of the channels-last prediction. */
export function channelsFirst(prediction: Prediction, classCount: number): Float32Array {
  const n = prediction.names.length;
  const pixels = prediction.width * prediction.height;
  const out = new Float32Array(classCount * pixels);
  for (let p = 0; p < pixels; p++)
    for (let k = 0; k < classCount; k++) out[k * pixels + p] = prediction.scores[p * n + k];
  return out;
}

function backgroundWordsOf(rule: BackgroundRule): readonly string[] {
  return rule && "classes" in rule ? rule.classes : [];
}

/** Every class name a usable, distinct prompt; one line naming the first bad one. */
export function checkVocabulary(
  classNames: readonly string[],
  backgroundWords: readonly string[],
  tokenizer: ClipTokenizer,
): void {
  if (!Array.isArray(classNames)) throw new SegmenterError("class names must be an array of strings");
  if (classNames.length === 0)
    throw new SegmenterError("the vocabulary is empty; give at least one class name");
  if (classNames.length > MAX_CLASSES)
    throw new SegmenterError(`at most ${MAX_CLASSES} classes, got ${classNames.length}`);
  const seen = new Set<string>();
  for (const [what, list] of [
    ["class name", classNames],
    ["background word", backgroundWords],
  ] as const)
    for (const name of list) {
      if (typeof name !== "string" || name.trim() === "")
        throw new SegmenterError(`${what} ${JSON.stringify(name)} is empty`);
      const label = classLabel(name);
      if (seen.has(label)) throw new SegmenterError(`${what} "${label}" is given twice`);
      const words = classWords(name);
      if (words.includes(""))
        throw new SegmenterError(`${what} ${JSON.stringify(name)} has an empty synonym`);
      for (const word of words)
        if (tokenizer.encode(word).length === 0)
          throw new SegmenterError(
            words.length === 1
              ? `${what} ${JSON.stringify(name)} has no text the tokenizer can read`
              : `${what} ${JSON.stringify(name)}: ${JSON.stringify(word)} has no text the tokenizer can read`,
          );
      seen.add(label);
    }
}

function checkBackgroundRule(rule: BackgroundRule, hasNoObject: boolean): void {
  if (rule === false) return;
  if (typeof rule === "object" && rule !== null && "threshold" in rule) {
    if (!(rule.threshold >= 0 && rule.threshold <= 1))
      throw new SegmenterError(`background threshold must be in [0, 1], got ${rule.threshold}`);
    return;
  }
  if (typeof rule === "object" && rule !== null && "classes" in rule) {
    if (!Array.isArray(rule.classes) || rule.classes.length === 0)
      throw new SegmenterError("background words: give at least one (or use a threshold)");
    return;
  }
  if (typeof rule === "object" && rule !== null && "noObject" in rule && rule.noObject === true) {
    if (!hasNoObject)
      throw new SegmenterError(
        "this model has no no-object class (no region head): use a threshold or words",
      );
    return;
  }
  throw new SegmenterError(
    `background must be { threshold }, { classes }, { noObject: true } or false, got ${JSON.stringify(rule)}`,
  );
}
