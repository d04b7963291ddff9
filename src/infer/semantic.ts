/**
 * The tensor math of S-Seg's semantic inference (method spec §8): class names → prompts → text embeddings
 * averaged over templates; each query's projected embedding → softmax over the logit-scaled cosine similarities;
 * per pixel, the queries' class probabilities mixed by their mask probabilities.
 *
 * The mix is normalised: S[c] = Σ_q P[q,c]·σ(m_q) / Σ_q σ(m_q), a convex mix of the queries' class probabilities,
 * so the background threshold lives in [0, 1] whatever the number of queries (the prototype's unnormalised sum
 * needed θ ≈ 3 with 24 queries; small-scale lessons, 4).
 */
import * as tf from "@tensorflow/tfjs";
import { classWords } from "../model/prompts.js";
import type { MasksRule, SSegModel } from "../model/sseg.js";
import { l2Normalize, meanPairwiseCosine } from "../nn/normalize.js";
import { resize } from "../nn/resize.js";
import type { ClipTokenizer } from "../text/tokenizer.js";

/**
 * Text embeddings [C, E] of class names: every template filled with every name (and each of a name's synonyms,
 * "monkey|ape"), encoded and projected, the projections averaged per class, then L2-normalised (GroupViT's
 * `build_text_embedding`, its template ensemble extended to synonyms).
 */
export function classEmbeddings(
  model: SSegModel,
  tokenizer: ClipTokenizer,
  classNames: readonly string[],
  templates: readonly string[],
): tf.Tensor2D {
  const contextLength = model.config.text.contextLength;
  const prompts: string[] = [];
  const owners: number[] = []; // the class of each prompt
  for (const template of templates)
    classNames.forEach((name, c) => {
      for (const word of classWords(name)) {
        prompts.push(template.replaceAll("{}", word));
        owners.push(c);
      }
    });
  // the per-class mean as one product (every backend has matMul): averaging[c, p] = 1 / (c's prompts) if p is c's
  const counts = new Array<number>(classNames.length).fill(0);
  for (const c of owners) counts[c]++;
  const averaging = new Float32Array(classNames.length * prompts.length);
  owners.forEach((c, p) => {
    averaging[c * prompts.length + p] = 1 / counts[c];
  });
  const tokens = tokenizer.tokenize(prompts, contextLength);
  return tf.tidy(() => {
    const features = model.textFeatures(tf.tensor2d(tokens, [prompts.length, contextLength], "int32"));
    const means = tf.matMul(tf.tensor2d(averaging, [classNames.length, prompts.length]), features);
    return l2Normalize(means) as tf.Tensor2D;
  });
}

/** What one forward pass gives at the input's (padded) resolution, channels last. */
export interface PixelPredictions {
  /** Normalised class scores [B, H, W, C], each in [0, 1]. */
  scores: tf.Tensor4D;
  /** Each pixel's most confident query [B, H, W] (int32): the model's own class-agnostic segmentation. */
  queries: tf.Tensor3D;
  /** That query's mask logit [B, H, W]. */
  queryLogits: tf.Tensor3D;
  /** Per image, the mean cosine between its different queries' embeddings [B] (→ 1: the queries say one thing). */
  queryCosine: tf.Tensor1D;
}

/**
 * Class scores and query maps of normalised images [B, H, W, 3] (sides multiples of 32) for class embeddings
 * [C, E]: mask logits are upsampled bilinearly to the input size before the sigmoid, as MaskFormer's
 * `semantic_inference` does. The model must be in eval mode.
 */
export function pixelPredictions(
  model: SSegModel,
  images: tf.Tensor4D,
  classes: tf.Tensor2D,
  masksRule: MasksRule = "mix",
): PixelPredictions {
  return tf.tidy(() => {
    const [b, height, width] = images.shape;
    const out = model.forwardImages(images, { auxiliary: false });
    const logits = out.layerMasks[out.layerMasks.length - 1].transpose([0, 2, 3, 1]) as tf.Tensor4D; // [B, h, w, Q]
    const upsampled = resize(logits, [height, width], { mode: "bilinear" });
    const q = upsampled.shape[3];
    // a region head names each query's region under its own scale; else S-Seg's projected query embeddings
    const head = model.regionHead;
    const queryEmbeddings = out.regionEmbeddings ?? model.queryEmbeddingsProjected(out.queryEmbeddings); // [B, Q, E]
    const scale = head ? head.logitScale.scale() : model.logitScale.scale();
    const probabilities = tf.softmax(
      tf.matMul(queryEmbeddings, tf.tile(classes.expandDims(0), [b, 1, 1]), false, true).mul(scale),
    ); // [B, Q, C]
    const queries = upsampled.argMax(3) as tf.Tensor3D; // [B, h, w]
    let scores: tf.Tensor;
    if (masksRule === "winner") scores = tf.gather(probabilities, queries.reshape([b, height * width]), 1, 1);
    else {
      const masks = tf.sigmoid(upsampled).reshape([b, height * width, q]);
      const coverage = masks.sum(2, true).maximum(1e-6); // [B, HW, 1]
      scores = tf.matMul(masks, probabilities).div(coverage); // [B, HW, C]
    }
    return {
      scores: scores.reshape([b, height, width, classes.shape[0]]) as tf.Tensor4D,
      queries,
      queryLogits: upsampled.max(3) as tf.Tensor3D,
      queryCosine: meanPairwiseCosine(l2Normalize(queryEmbeddings)) as tf.Tensor1D,
    };
  });
}
