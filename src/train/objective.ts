/**
 * S-Seg's training objective for one batch (method spec §5): the mask loss of every decoder layer against the
 * pseudo-masks (Hungarian-matched, 20·focal + 1·dice) plus the image–caption contrastive loss, λ = 1 each.
 */
import * as tf from "@tensorflow/tfjs";
import type { SSegModel } from "../model/sseg.js";
import type { TrainingBatch } from "./batches.js";
import type { SetCriterion } from "./criterion.js";
import { contrastiveLoss } from "./losses.js";

export interface ObjectiveWeights {
  mask: number;
  contrastive: number;
}

export const DEFAULT_OBJECTIVE_WEIGHTS: ObjectiveWeights = { mask: 1, contrastive: 1 };

export interface BatchLoss {
  total: tf.Scalar;
  /** total, mask (weighted sum over layers), contrastive, and the last layer's focal and dice terms. */
  parts: Record<string, tf.Scalar>;
}

/** A batch's tensors: normalised images, token ids, and each image's target masks [K, m, m]. */
export function batchTensors(batch: TrainingBatch): {
  images: tf.Tensor4D;
  tokens: tf.Tensor2D;
  targets: tf.Tensor3D[];
} {
  const b = batch.keys.length;
  const { size, maskSize } = batch;
  return {
    images: tf.tensor4d(batch.images, [b, size, size, 3]),
    tokens: tf.tensor2d(batch.tokens, [b, batch.tokens.length / b], "int32"),
    targets: batch.targets.map((t) => tf.tensor3d(t.masks, [t.count, maskSize, maskSize], "float32")),
  };
}

/** The loss of one batch; call inside a gradient scope. */
export function sSegLoss(
  model: SSegModel,
  criterion: SetCriterion,
  inputs: { images: tf.Tensor4D; tokens: tf.Tensor2D; targets: tf.Tensor3D[] },
  weights: ObjectiveWeights = DEFAULT_OBJECTIVE_WEIGHTS,
): BatchLoss {
  const out = model.forwardImages(inputs.images);
  const masks = criterion.compute(out.layerMasks, inputs.targets);
  const contrastive = contrastiveLoss(
    model.imageEmbedding(out.queryEmbeddings),
    model.textEmbedding(inputs.tokens),
    model.logitScale.theta as tf.Scalar,
  );
  const total = masks.total.mul(weights.mask).add(contrastive.mul(weights.contrastive)) as tf.Scalar;
  return {
    total,
    parts: {
      total,
      mask: masks.total,
      contrastive,
      focal: masks.losses.loss_mask,
      dice: masks.losses.loss_dice,
    },
  };
}
