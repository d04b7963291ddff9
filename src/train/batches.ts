/**
 * Training batches: image–caption pairs → augmented crop + caption tokens + class-agnostic pseudo-masks of that
 * crop. Pseudo-masks are computed once per source image (on its full frame, cacheable) and cut with the same
 * crop, resize and flip as the image, at the model's mask resolution; clusters that leave the crop are dropped.
 * Sample n of the stream draws its augmentation from its own generator seeded by (seed, n), so a resumed run
 * that skips the first n samples sees exactly the batches an uninterrupted run would.
 */
import { createHash } from "node:crypto";
import {
  type AugmentOptions,
  applyCropToImage,
  applyCropToLabelMap,
  sampleCropTransform,
} from "../data/augment.js";
import type { NounLexicon } from "../data/nouns.js";
import type { ImageCaptionPair } from "../data/pairs.js";
import { applyPhotometric, samplePhotometric } from "../data/photometric.js";
import { normalizeImage } from "../data/preprocess.js";
import { Rng } from "../engine/rng.js";
import type { RgbImage } from "../io/pixels.js";
import { simplePrompt } from "../model/prompts.js";
import type { FeatureSource } from "../pseudo/features.js";
import { type MaskCache, pseudoMasks } from "../pseudo/index.js";
import type { ClipTokenizer } from "../text/tokenizer.js";

export interface BatchOptions {
  batchSize: number;
  /** Side of the square training crop (a multiple of 32 for Swin). */
  size: number;
  /** Downsampling of the pseudo-mask targets relative to the crop (4: MaskFormer's mask resolution). */
  maskStride: number;
  /** RandomResizedCrop area range. */
  scale: [number, number];
  /** mmseg's photometric distortion of the crop (the pseudo-masks come from the undistorted image). */
  photometric?: boolean;
  /** Pseudo-mask generator: feature source, K, its seed, and an optional cache. */
  features: FeatureSource;
  k: number;
  cache?: MaskCache;
  /** Seeds every sample's augmentation together with its index in the stream. */
  seed: number;
  contextLength?: number;
  /** The naming recipe's noun-level targets: each caption's object nouns from this lexicon. */
  nouns?: NounLexicon;
  /** With `nouns`: the chance that a caption's noun is replaced by one of its general words ("cow" → "animal"). */
  generalize?: number;
}

/** The pseudo-masks of one image: `count` binary masks of maskSize² pixels, back to back. */
export interface TargetMasks {
  count: number;
  masks: Uint8Array;
}

export interface TrainingBatch {
  keys: string[];
  captions: string[];
  /** [B, size, size, 3], ImageNet-normalised. */
  images: Float32Array;
  /** [B, contextLength] CLIP token ids. */
  tokens: Int32Array;
  targets: TargetMasks[];
  size: number;
  maskSize: number;
  /** Index in the stream of the batch's first sample. */
  firstSample: number;
  /** With a noun lexicon: the batch's distinct caption nouns, their prompts' tokens and who has which. */
  nouns?: BatchNouns;
}

export interface BatchNouns {
  /** The distinct nouns of the batch's captions, in order of appearance. */
  words: string[];
  /** [N, contextLength] token ids of "a photo of a {noun}.". */
  tokens: Int32Array;
  /** [B, N]: 1 where the image's caption names the noun. */
  targets: Float32Array;
}

/**
 * The nouns of a batch's captions (an image whose caption names none has an all-zero row); an image also holds
 * the nouns its caption's nouns imply (the lexicon's hierarchy).
 */
export function batchNouns(
  captions: readonly string[],
  lexicon: NounLexicon,
  tokenizer: ClipTokenizer,
  contextLength: number,
): BatchNouns {
  const perCaption = captions.map((caption) => lexicon.extract(caption));
  const words = [...new Set(perCaption.flat())];
  const column = new Map(words.map((word, n) => [word, n]));
  const targets = new Float32Array(captions.length * words.length);
  perCaption.forEach((nouns, b) => {
    for (const noun of nouns) {
      targets[b * words.length + column.get(noun)!] = 1;
      // a caption naming a sparrow also names a bird (when another caption of the batch says "bird")
      for (const wider of lexicon.implied(noun)) {
        const n = column.get(wider);
        if (n !== undefined) targets[b * words.length + n] = 1;
      }
    }
  });
  return { words, tokens: tokenizer.tokenize(words.map(simplePrompt), contextLength), targets };
}

/** A sample's own generator, from the seed and its index in the stream: the same draws however the run is split. */
export function sampleRng(seed: number, index: number, purpose = "batch"): Rng {
  return new Rng(createHash("sha256").update(`${purpose}/${seed}/${index}`).digest().readUInt32LE(0));
}

/** One pair → its normalised crop and the crop's pseudo-masks. */
export function prepareSample(
  pair: ImageCaptionPair,
  index: number,
  options: BatchOptions,
): { pixels: Float32Array; targets: TargetMasks } {
  const { size, maskStride } = options;
  if (size % maskStride !== 0)
    throw new RangeError(`size ${size} is not a multiple of maskStride ${maskStride}`);
  const maskSize = size / maskStride;
  const clusters = pseudoMasks(options.features, pair.image, {
    k: options.k,
    seed: options.seed,
    cache: options.cache,
  });
  const augment: AugmentOptions = { size, scale: options.scale };
  const transform = sampleCropTransform(
    pair.image.width,
    pair.image.height,
    sampleRng(options.seed, index),
    augment,
  );
  const crop = distortColours(applyCropToImage(pair.image, transform), options, index);
  const cut = applyCropToLabelMap(
    { width: clusters.width, height: clusters.height, labels: clusters.labelMap },
    { ...transform, outputWidth: maskSize, outputHeight: maskSize },
  );
  return {
    pixels: normalizeImage(crop.data),
    targets: splitMasks(cut.labels, clusters.masks.length, maskSize),
  };
}

/** The crop with mmseg's photometric distortion when asked for, drawn from the sample's own generator. */
export function distortColours(
  crop: RgbImage,
  { photometric, seed }: { photometric?: boolean; seed: number },
  index: number,
): RgbImage {
  return photometric
    ? applyPhotometric(crop, samplePhotometric(sampleRng(seed, index, "photometric")))
    : crop;
}

/** Cluster ids → one binary mask per cluster still present, in id order. */
export function splitMasks(
  labels: Uint8Array | Uint16Array,
  clusterCount: number,
  maskSize: number,
): TargetMasks {
  const pixels = maskSize * maskSize;
  const present = new Uint8Array(clusterCount);
  for (const id of labels) present[id] = 1;
  const slot = new Int32Array(clusterCount).fill(-1);
  let count = 0;
  for (let id = 0; id < clusterCount; id++) if (present[id]) slot[id] = count++;
  const masks = new Uint8Array(count * pixels);
  for (let p = 0; p < pixels; p++) masks[slot[labels[p]] * pixels + p] = 1;
  return { count, masks };
}

/**
 * Batches from a stream of pairs; `skip` drops the first samples without preparing them (resuming). The last
 * incomplete batch is dropped, as the contrastive loss wants full batches.
 */
export async function* trainingBatches(
  pairs: AsyncIterable<ImageCaptionPair>,
  tokenizer: ClipTokenizer,
  options: BatchOptions,
  skip = 0,
): AsyncGenerator<TrainingBatch> {
  const { batchSize, size } = options;
  const contextLength = options.contextLength ?? 77;
  let index = 0;
  let pending: { pair: ImageCaptionPair; index: number }[] = [];
  for await (const pair of pairs) {
    if (index < skip) {
      index++;
      continue;
    }
    pending.push({ pair, index: index++ });
    if (pending.length < batchSize) continue;
    const images = new Float32Array(batchSize * size * size * 3);
    const targets: TargetMasks[] = [];
    pending.forEach(({ pair, index }, b) => {
      const sample = prepareSample(pair, index, options);
      images.set(sample.pixels, b * size * size * 3);
      targets.push(sample.targets);
    });
    const { nouns, generalize } = options;
    const captions = pending.map(({ pair, index }) =>
      nouns && generalize
        ? nouns.generalize(pair.caption, generalize, sampleRng(options.seed, index, "caption"))
        : pair.caption,
    );
    yield {
      keys: pending.map(({ pair }) => pair.key),
      captions,
      images,
      tokens: tokenizer.tokenize(captions, contextLength),
      targets,
      size,
      maskSize: size / options.maskStride,
      firstSample: pending[0].index,
      nouns: options.nouns && batchNouns(captions, options.nouns, tokenizer, contextLength),
    };
    pending = [];
  }
}
