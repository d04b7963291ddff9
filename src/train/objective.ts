/**
 * S-Seg's training objective for one batch (method spec §5): the mask loss of every decoder layer against the
 * pseudo-masks (Hungarian-matched, 20·focal + 1·dice) plus the image–caption contrastive loss, λ = 1 each.
 */
import * as tf from "@tensorflow/tfjs";
import type { SSegModel } from "../model/sseg.js";
import { meanPairwiseCosine } from "../nn/normalize.js";
import type { TrainingBatch } from "./batches.js";
import type { SetCriterion } from "./criterion.js";
import { contrastiveLoss, nounLoss, regionNounProbabilities, unclaimedRegionLoss } from "./losses.js";

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
  /** With a region head: how the naming is doing in this batch (see NamingStats). */
  naming?: NamingStats;
}

/** A batch's naming at a glance: what shows the failure modes in docs/naming.md while a run trains. */
export interface NamingStats {
  /** Mean no-object probability over all regions (0: the no-object class is dead and gets no gradient). */
  noObject: number;
  /** Mean presence (max over regions) of the nouns the captions name, and of the batch's other nouns. */
  named: number;
  other: number;
  /** Mean cosine between the batch's different noun embeddings (→ 1: the names collapse into one point). */
  nounCosine: number;
  /** Share of images whose most present noun is one their caption names. */
  top1: number;
  /** Share of the contrastive loss's negative pairs whose captions name the same nouns (in-batch false negatives). */
  falseNegatives: number;
}

export function namingStats(
  probabilities: tf.Tensor3D,
  nouns: tf.Tensor2D,
  targets: tf.Tensor2D,
): NamingStats {
  return tf.tidy(() => {
    const n = nouns.shape[0];
    const presence = probabilities.slice([0, 0, 0], [-1, -1, n]).max(1); // [B, N]
    const others = tf.sub(1, targets);
    const hit = tf.gather(targets, presence.argMax(1), 1, 1); // [B, 1]: is the top noun a named one?
    const b = targets.shape[0];
    const sameNouns = sameNounPairs(targets)
      .sum()
      .sub(b)
      .div(Math.max(1, b * b - b));
    const value = (x: tf.Tensor) => x.dataSync()[0];
    return {
      noObject: value(probabilities.slice([0, 0, n], [-1, -1, 1]).mean()),
      named: value(presence.mul(targets).sum().div(targets.sum().maximum(1))),
      other: value(presence.mul(others).sum().div(others.sum().maximum(1))),
      nounCosine: value(meanPairwiseCosine(nouns)),
      top1: value(hit.mean()),
      falseNegatives: value(sameNouns),
    };
  });
}

/** [B, B] 1 where i = j or captions i and j name the same non-empty set of nouns (‖t_i − t_j‖² = 0). */
export function sameNounPairs(targets: tf.Tensor2D): tf.Tensor2D {
  return tf.tidy(() => {
    const counts = targets.sum(1, true);
    const distances = counts.add(counts.transpose()).sub(targets.matMul(targets, false, true).mul(2));
    const named = counts.greater(0).logicalAnd(counts.transpose().greater(0));
    const same = tf.lessEqual(distances, 0.5).logicalAnd(named);
    return same.logicalOr(tf.eye(targets.shape[0]).cast("bool")).cast("float32") as tf.Tensor2D;
  });
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
    nouns && model.regionHead?.config.multiPositive ? sameNounPairs(nouns.targets) : undefined,
  );
  let total = masks.total.mul(weights.mask).add(contrastive.mul(weights.contrastive)) as tf.Scalar;
  const parts: Record<string, tf.Scalar> = {
    mask: masks.total,
    contrastive,
    focal: masks.losses.loss_mask,
    dice: masks.losses.loss_dice,
  };
  const head = model.regionHead;
  let naming: NamingStats | undefined;
  if (head && out.regionEmbeddings && nouns) {
    const nounEmbeddings = text.slice([b, 0], [-1, -1]) as tf.Tensor2D;
    const candidates = tf.concat([nounEmbeddings, head.noObjectEmbedding()]) as tf.Tensor2D;
    const probabilities = regionNounProbabilities(out.regionEmbeddings, candidates, head.logitScale.scale());
    parts.nouns = nounLoss(probabilities, nouns.targets, head.config.backgroundWeight);
    total = total.add(parts.nouns.mul(weights.nouns));
    const unclaimedWeight = head.config.unclaimedWeight ?? 0;
    if (unclaimedWeight > 0) {
      const lastLayer = masks.matches[masks.matches.length - 1].map((match) => match.predIndices);
      parts.unclaimed = unclaimedRegionLoss(probabilities, nouns.targets, lastLayer);
      total = total.add(parts.unclaimed.mul(unclaimedWeight));
    }
    naming = namingStats(probabilities, nounEmbeddings, nouns.targets);
  }
  return { total, parts: { total, ...parts }, naming };
}
