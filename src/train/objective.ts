/**
 * S-Seg's training objective for one batch (method spec §5): the mask loss of every decoder layer against the
 * pseudo-masks (Hungarian-matched, 20·focal + 1·dice) plus the image–caption contrastive loss, λ = 1 each.
 */
import * as tf from "@tensorflow/tfjs";
import type { SSegModel } from "../model/sseg.js";
import type { TrainingBatch } from "./batches.js";
import type { SetCriterion } from "./criterion.js";
import { contrastiveLoss, nounLoss } from "./losses.js";

export interface ObjectiveWeights {
  mask: number;
  contrastive: number;
  /** The noun-level loss of a model with a region head (batches with caption nouns). */
  nouns: number;
}

export const DEFAULT_OBJECTIVE_WEIGHTS: ObjectiveWeights = { mask: 1, contrastive: 1, nouns: 1 };

/** A batch's tensors (see batchTensors). */
export interface BatchTensors {
  images: tf.Tensor4D;
  tokens: tf.Tensor2D;
  targets: tf.Tensor3D[];
  /** The caption nouns' prompt tokens [N, T] and who has which [B, N]. */
  nouns?: { tokens: tf.Tensor2D; targets: tf.Tensor2D };
}

export interface BatchLoss {
  total: tf.Scalar;
  /** total, mask (weighted sum over layers), contrastive, and the last layer's focal and dice terms. */
  parts: Record<string, tf.Scalar>;
}

/** A batch's tensors: normalised images, token ids, each image's target masks [K, m, m], and caption nouns. */
export function batchTensors(batch: TrainingBatch): BatchTensors {
  const b = batch.keys.length;
  const { size, maskSize, nouns } = batch;
  const contextLength = batch.tokens.length / b;
  return {
    images: tf.tensor4d(batch.images, [b, size, size, 3]),
    tokens: tf.tensor2d(batch.tokens, [b, contextLength], "int32"),
    targets: batch.targets.map((t) => tf.tensor3d(t.masks, [t.count, maskSize, maskSize], "float32")),
    nouns:
      nouns && nouns.words.length > 0
        ? {
            tokens: tf.tensor2d(nouns.tokens, [nouns.words.length, contextLength], "int32"),
            targets: tf.tensor2d(nouns.targets, [b, nouns.words.length]),
          }
        : undefined,
  };
}

/** Every tensor of a batch, for disposal. */
export function batchTensorList(inputs: BatchTensors): tf.Tensor[] {
  return [
    inputs.images,
    inputs.tokens,
    ...inputs.targets,
    ...(inputs.nouns ? [inputs.nouns.tokens, inputs.nouns.targets] : []),
  ];
}

/** The loss of one batch; call inside a gradient scope. */
export function sSegLoss(
  model: SSegModel,
  criterion: SetCriterion,
  inputs: BatchTensors,
  weights: ObjectiveWeights = DEFAULT_OBJECTIVE_WEIGHTS,
): BatchLoss {
  const out = model.forwardImages(inputs.images);
  const masks = criterion.compute(out.layerMasks, inputs.targets);
  // captions and noun prompts through the text tower together: one set of projector BatchNorm statistics for both
  const b = inputs.tokens.shape[0];
  const nouns = model.regionHead && out.regionEmbeddings ? inputs.nouns : undefined;
  const text = model.textEmbedding(nouns ? tf.concat([inputs.tokens, nouns.tokens]) : inputs.tokens);
  const contrastive = contrastiveLoss(
    model.imageEmbedding(out.queryEmbeddings),
    nouns ? text.slice([0, 0], [b, -1]) : text,
    model.logitScale.theta as tf.Scalar,
  );
  let total = masks.total.mul(weights.mask).add(contrastive.mul(weights.contrastive)) as tf.Scalar;
  const parts: Record<string, tf.Scalar> = {
    mask: masks.total,
    contrastive,
    focal: masks.losses.loss_mask,
    dice: masks.losses.loss_dice,
  };
  const head = model.regionHead;
  if (head && out.regionEmbeddings && nouns) {
    const candidates = tf.concat([text.slice([b, 0], [-1, -1]), head.noObjectEmbedding()]);
    parts.nouns = nounLoss(
      out.regionEmbeddings,
      candidates as tf.Tensor2D,
      nouns.targets,
      head.logitScale.scale(),
      head.config.backgroundWeight,
    );
    total = total.add(parts.nouns.mul(weights.nouns));
  }
  return { total, parts: { total, ...parts } };
}
