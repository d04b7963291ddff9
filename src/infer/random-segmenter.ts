/**
 * An end-to-end open-vocabulary segmenter with randomly initialised weights: image → pixel embeddings,
 * class names → prompt → tokens → text embeddings, cosine similarity → label map. It runs the same
 * path a trained model will (decode, mmseg resize, normalise, encode, match, write), so `npm start` does a real
 * job before the default model ships; its labels carry no meaning until then.
 */
import * as tf from "@tensorflow/tfjs";
import { Rng } from "../engine/rng.js";
import { type ImageInput, mmsegRescaleSize, readImage, resizeBilinear, resizeNearest } from "../io/image.js";
import { gelu } from "../nn/activations.js";
import { Conv2d } from "../nn/conv2d.js";
import { Embedding } from "../nn/embedding.js";
import { GroupNorm } from "../nn/group-norm.js";
import { Linear } from "../nn/linear.js";
import { Module } from "../nn/module.js";
import { ClipTokenizer } from "../text/tokenizer.js";

/** ImageNet statistics on 0–255 pixels, as mmseg normalises. */
const MEAN = [123.675, 116.28, 103.53];
const STD = [58.395, 57.12, 57.375];
const EMBED_DIM = 64;
const PROMPT = "a photo of a {}.";

export interface Segment {
  label: string;
  /** Mean probability of this class over its pixels. */
  score: number;
  /** Fraction of the image's pixels given this class. */
  pixelShare: number;
}

export interface SegmentationResult {
  width: number;
  height: number;
  classes: string[];
  /** Class index per pixel, row-major, at the input image's size. */
  labelMap: Uint16Array;
  /** Classes present in the image, largest first. */
  segments: Segment[];
}

class PixelEncoder extends Module {
  readonly stem: Conv2d;
  readonly norm: GroupNorm;
  readonly head: Conv2d;
  constructor(rng: Rng) {
    super();
    this.stem = this.module("stem", new Conv2d(3, 32, 4, { rng, stride: 4 }));
    this.norm = this.module("norm", new GroupNorm(8, 32));
    this.head = this.module("head", new Conv2d(32, EMBED_DIM, 3, { rng, padding: 1 }));
  }
  /** (1, H, W, 3) normalised → (1, H/4, W/4, D) */
  forward(x: tf.Tensor4D): tf.Tensor4D {
    return this.head.forward(gelu(this.norm.forward(this.stem.forward(x))) as tf.Tensor4D);
  }
}

class TextEncoder extends Module {
  readonly tokenEmbedding: Embedding;
  readonly proj: Linear;
  constructor(vocabSize: number, rng: Rng) {
    super();
    this.tokenEmbedding = this.module(
      "token_embedding",
      new Embedding(vocabSize, EMBED_DIM, { rng, std: 0.02 }),
    );
    this.proj = this.module("proj", new Linear(EMBED_DIM, EMBED_DIM, { rng }));
  }
  /** ids (C, 77), tokens after EOT are 0 → (C, D): mean of the real tokens' embeddings, projected. */
  forward(ids: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => {
      const valid = ids.notEqual(0).cast("float32").expandDims(2); // (C, 77, 1)
      const summed = this.tokenEmbedding.forward(ids).mul(valid).sum(1);
      return this.proj.forward(summed.div(valid.sum(1))) as tf.Tensor2D;
    });
  }
}

export class RandomInitSegmenter {
  private constructor(
    private readonly tokenizer: ClipTokenizer,
    private readonly pixels: PixelEncoder,
    private readonly text: TextEncoder,
    private readonly shortSide: number,
  ) {}

  static async create(options: { seed?: number; shortSide?: number } = {}): Promise<RandomInitSegmenter> {
    const rng = new Rng(options.seed ?? 0);
    const tokenizer = await ClipTokenizer.load();
    const pixels = new PixelEncoder(rng).eval();
    const text = new TextEncoder(tokenizer.vocabSize, rng).eval();
    return new RandomInitSegmenter(tokenizer, pixels, text, options.shortSide ?? 448);
  }

  async segment(input: ImageInput, classNames: string[]): Promise<SegmentationResult> {
    if (classNames.length === 0)
      throw new RangeError("segment: the vocabulary is empty; give at least one class name");
    if (classNames.length > 65535)
      throw new RangeError(`segment: at most 65535 classes, got ${classNames.length}`);
    const image = await readImage(input);
    const size = mmsegRescaleSize(image.width, image.height, { shortSide: this.shortSide });
    const resized = resizeBilinear(image, size.width, size.height);
    const ids = this.tokenizer.tokenize(classNames.map((c) => PROMPT.replace("{}", c)));
    const { labels, scores, gridW, gridH } = tf.tidy(() => {
      const x = tf
        .tensor4d(resized.data, [1, resized.height, resized.width, 3], "int32")
        .cast("float32")
        .sub(MEAN)
        .div(STD);
      const pix = l2normalize(this.pixels.forward(x as tf.Tensor4D)); // (1, h, w, D)
      const txt = l2normalize(this.text.forward(tf.tensor2d(ids, [classNames.length, 77], "int32"))); // (C, D)
      const [, h, w] = pix.shape;
      const probs = tf.softmax(tf.matMul(pix.reshape([h * w, EMBED_DIM]), txt, false, true).mul(10)); // (h·w, C)
      return { labels: probs.argMax(1).dataSync(), scores: probs.max(1).dataSync(), gridW: w, gridH: h };
    });
    const grid = Uint16Array.from(labels);
    const labelMap = resizeNearest(grid, gridW, gridH, image.width, image.height);
    return {
      width: image.width,
      height: image.height,
      classes: classNames,
      labelMap,
      segments: summarise(classNames, labelMap, grid, scores),
    };
  }

  dispose(): void {
    this.pixels.dispose();
    this.text.dispose();
  }
}

function l2normalize(x: tf.Tensor): tf.Tensor {
  return x.div(x.norm("euclidean", -1, true).add(1e-6));
}

/** Pixel shares from the full-size label map; scores averaged over the prediction grid. */
function summarise(
  classes: string[],
  labelMap: Uint16Array,
  grid: Uint16Array,
  scores: ArrayLike<number>,
): Segment[] {
  const pixels = new Float64Array(classes.length);
  for (let i = 0; i < labelMap.length; i++) pixels[labelMap[i]]++;
  const cells = new Float64Array(classes.length);
  const scoreSum = new Float64Array(classes.length);
  for (let i = 0; i < grid.length; i++) {
    cells[grid[i]]++;
    scoreSum[grid[i]] += scores[i];
  }
  return classes
    .map((label, c) => ({
      label,
      score: cells[c] ? scoreSum[c] / cells[c] : 0,
      pixelShare: pixels[c] / labelMap.length,
    }))
    .filter((s) => s.pixelShare > 0)
    .sort((a, b) => b.pixelShare - a.pixelShare);
}
