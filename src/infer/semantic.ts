/**
 * Semantic inference of an S-Seg model (method spec §8): class names → prompts → text embeddings; each query's
 * projected embedding → softmax over the logit-scaled cosine similarities; masks and class probabilities
 * combined per pixel; background where the best class score stays below a threshold.
 *
 * The combination is normalised: S[c] = Σ_q P[q,c]·σ(m_q) / Σ_q σ(m_q), a convex mix of the queries' class
 * probabilities, so the background threshold lives in [0, 1] whatever the number of queries (the prototype's
 * unnormalised sum needed θ ≈ 3 with 24 queries; small-scale lessons, 4).
 */
import * as tf from "@tensorflow/tfjs";
import type { SSegModel } from "../model/sseg.js";
import type { ClipTokenizer } from "../text/tokenizer.js";

export const DEFAULT_PROMPT = "a photo of a {}.";
export const DEFAULT_BACKGROUND_THRESHOLD = 0.5;

/** Text embeddings [C, E] of class names through a prompt template ("{}" = the name). */
export function classEmbeddings(
  model: SSegModel,
  tokenizer: ClipTokenizer,
  classNames: readonly string[],
  prompt = DEFAULT_PROMPT,
): tf.Tensor2D {
  if (!prompt.includes("{}")) throw new RangeError(`prompt "${prompt}" has no {} for the class name`);
  const tokens = tokenizer.tokenize(
    classNames.map((name) => prompt.replace("{}", name)),
    model.config.text.contextLength,
  );
  return tf.tidy(() =>
    model.textEmbedding(tf.tensor2d(tokens, [classNames.length, model.config.text.contextLength], "int32")),
  );
}

/**
 * Per-pixel class scores [B, C, S/4, S/4] (each in [0, 1]) of normalised images [B, S, S, 3] for class
 * embeddings [C, E]. The model must be in eval mode.
 */
export function classScores(model: SSegModel, images: tf.Tensor4D, classes: tf.Tensor2D): tf.Tensor4D {
  return tf.tidy(() => {
    const out = model.forwardImages(images, { auxiliary: false });
    const masks = tf.sigmoid(out.layerMasks[out.layerMasks.length - 1]); // [B, Q, h, w]
    const [b, q, h, w] = masks.shape;
    const queries = model.queryEmbeddingsProjected(out.queryEmbeddings); // [B, Q, E]
    const scale = model.logitScale.scale();
    const probabilities = tf.softmax(
      tf.matMul(queries, classes.expandDims(0).tile([b, 1, 1]), false, true).mul(scale),
    ); // [B, Q, C]
    const flat = masks.reshape([b, q, h * w]);
    const mixed = tf.matMul(probabilities, flat, true, false); // [B, C, hw]
    const coverage = flat.sum(1, true).maximum(1e-6); // [B, 1, hw]
    return mixed.div(coverage).reshape([b, classes.shape[0], h, w]) as tf.Tensor4D;
  });
}

/** Each pixel's most confident query, [B][h·w]: the model's own class-agnostic segmentation. */
export function queryLabelMaps(model: SSegModel, images: tf.Tensor4D): Uint8Array[] {
  const ids = tf.tidy(() => {
    const out = model.forwardImages(images, { auxiliary: false });
    return out.layerMasks[out.layerMasks.length - 1].argMax(1); // [B, h, w]
  });
  const [b, h, w] = ids.shape;
  const data = ids.dataSync();
  ids.dispose();
  return Array.from({ length: b }, (_, i) => Uint8Array.from(data.subarray(i * h * w, (i + 1) * h * w)));
}

/**
 * Label maps from class scores [B, C, h, w]: argmax class + 1 (0 is background) where the best score reaches
 * `threshold`, else 0; with `threshold` 0 every pixel gets a class.
 */
export function labelsFromScores(
  scores: tf.Tensor4D,
  threshold = DEFAULT_BACKGROUND_THRESHOLD,
): Uint8Array[] {
  const [b, c, h, w] = scores.shape;
  const data = scores.dataSync();
  const maps: Uint8Array[] = [];
  for (let i = 0; i < b; i++) {
    const labels = new Uint8Array(h * w);
    for (let p = 0; p < h * w; p++) {
      let best = 0;
      let bestScore = -1;
      for (let k = 0; k < c; k++) {
        const s = data[(i * c + k) * h * w + p];
        if (s > bestScore) [best, bestScore] = [k, s];
      }
      labels[p] = bestScore >= threshold ? best + 1 : 0;
    }
    maps.push(labels);
  }
  return maps;
}
