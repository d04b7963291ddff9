/**
 * S-Seg's training losses, all differentiable in tfjs. Mask losses: MaskFormer v1's `sigmoid_focal_loss`
 * and `dice_loss` (facebookresearch/MaskFormer `mask_former/modeling/criterion.py`, themselves DETR's),
 * applied to matched prediction/target pairs after bilinearly upsampling the predictions to the target size.
 * Contrastive loss: GroupViT's symmetric InfoNCE (NVlabs/GroupViT `models/multi_label_contrastive.py`,
 * `loss`), on one process (no cross-GPU gathering). Re-expressed from the formulas; no upstream code is copied.
 */
import * as tf from "@tensorflow/tfjs";
import { LOGIT_SCALE_MAX } from "../model/projector.js";
import { l2Normalize } from "../nn/normalize.js";
import { resize } from "../nn/resize.js";

/** RetinaNet's focal-loss weight of positive pixels, MaskFormer's default (its γ = 2 is written as a square). */
export const FOCAL_ALPHA = 0.25;

/**
 * Element-wise binary cross-entropy with logits, torch's formula max(x, 0) − x·t + log(1 + e^−|x|) and its
 * backward (σ(x) − t)·dy. Built from kernels the native pack provides (tfjs's own softplus is not among them
 * and runs ~100× slower), with the gradient given explicitly so it stays exact at x = 0, where relu and abs
 * have kinks.
 */
export function binaryCrossEntropyWithLogits(logits: tf.Tensor, targets: tf.Tensor): tf.Tensor {
  const bce = tf.customGrad((...args: (tf.Tensor | tf.GradSaveFunc)[]) => {
    const [x, t, save] = args as [tf.Tensor, tf.Tensor, tf.GradSaveFunc];
    save([x, t]);
    return {
      value: tf
        .relu(x)
        .sub(x.mul(t))
        .add(tf.log1p(tf.exp(tf.abs(x).neg()))),
      gradFunc: (dy: tf.Tensor, [xs, ts]: tf.Tensor[]) => [dy.mul(tf.sigmoid(xs).sub(ts)), dy.mul(xs.neg())],
    };
  });
  return bce(logits, targets);
}

function checkPairs(logits: tf.Tensor, targets: tf.Tensor, what: string): void {
  if (logits.rank !== 2 || targets.rank !== 2 || logits.shape.some((d, i) => d !== targets.shape[i]))
    throw new RangeError(
      `${what}: expected logits and targets of the same shape [N, pixels], got [${logits.shape}] and [${targets.shape}]`,
    );
}

function checkNumMasks(numMasks: number, what: string): void {
  if (!(numMasks > 0)) throw new RangeError(`${what}: numMasks must be positive, got ${numMasks}`);
}

/** Focal loss of each mask, averaged over its pixels: [N, P] logits and 0/1 targets → [N]. */
export function sigmoidFocalLossPerMask(logits: tf.Tensor2D, targets: tf.Tensor2D): tf.Tensor1D {
  checkPairs(logits, targets, "sigmoidFocalLoss");
  return tf.tidy(() => {
    const prob = tf.sigmoid(logits);
    const one = tf.scalar(1);
    const notTargets = one.sub(targets);
    const probOfTruth = prob.mul(targets).add(one.sub(prob).mul(notTargets)); // p_t
    const alphaT = targets.mul(FOCAL_ALPHA).add(notTargets.mul(1 - FOCAL_ALPHA));
    const modulation = one.sub(probOfTruth).square(); // (1 − p_t)^γ, γ = 2
    return binaryCrossEntropyWithLogits(logits, targets).mul(modulation).mul(alphaT).mean(1) as tf.Tensor1D;
  });
}

/** Dice loss of each mask, 1 − (2Σpt + 1)/(Σp + Σt + 1) with p = σ(logit): [N, P] → [N]. */
export function diceLossPerMask(logits: tf.Tensor2D, targets: tf.Tensor2D): tf.Tensor1D {
  checkPairs(logits, targets, "diceLoss");
  return tf.tidy(() => {
    const prob = tf.sigmoid(logits);
    const numerator = prob.mul(targets).sum(1).mul(2);
    const denominator = prob.sum(1).add(targets.sum(1));
    return tf.scalar(1).sub(numerator.add(1).div(denominator.add(1))) as tf.Tensor1D;
  });
}

/** MaskFormer's `sigmoid_focal_loss`: per-mask pixel means, summed over the masks, divided by numMasks. */
export function sigmoidFocalLoss(logits: tf.Tensor2D, targets: tf.Tensor2D, numMasks: number): tf.Scalar {
  checkNumMasks(numMasks, "sigmoidFocalLoss");
  return tf.tidy(() => sigmoidFocalLossPerMask(logits, targets).sum().div(numMasks));
}

/** MaskFormer's `dice_loss`: per-mask dice losses summed, divided by numMasks. */
export function diceLoss(logits: tf.Tensor2D, targets: tf.Tensor2D, numMasks: number): tf.Scalar {
  checkNumMasks(numMasks, "diceLoss");
  return tf.tidy(() => diceLossPerMask(logits, targets).sum().div(numMasks));
}

/** Mask logits [N, h, w] bilinearly resized (align_corners=False) to [N, H, W], as MaskFormer's loss does. */
export function upsampleMaskLogits(logits: tf.Tensor3D, [height, width]: [number, number]): tf.Tensor3D {
  if (logits.rank !== 3)
    throw new RangeError(`upsampleMaskLogits: expected [N, h, w] logits, got [${logits.shape}]`);
  return tf.tidy(
    () => resize(logits.expandDims(3) as tf.Tensor4D, [height, width]).squeeze([3]) as tf.Tensor3D,
  );
}

/**
 * Mean over rows of −log softmax(logits)[i, i]: cross-entropy with the diagonal as the labels; with `positives`
 * [B, B] (0/1, diagonal 1), of −log Σ_{j positive} softmax(logits)[i, j] (multi-positive InfoNCE).
 */
function diagonalCrossEntropy(logits: tf.Tensor2D, positives?: tf.Tensor2D): tf.Scalar {
  return tf.tidy(() => {
    const n = logits.shape[0];
    const logProbabilities = tf.logSoftmax(logits);
    if (!positives) return logProbabilities.mul(tf.eye(n)).sum().neg().div(n) as tf.Scalar;
    const excluded = tf.sub(1, positives).mul(-1e9); // exp underflows to 0 for the negatives
    return tf.logSumExp(logProbabilities.add(excluded), 1).sum().neg().div(n) as tf.Scalar;
  });
}

/**
 * GroupViT's image–text contrastive loss: ½(CE(s·z·uᵀ) + CE(s·u·zᵀ)) with z, u the L2-normalised image and
 * text embeddings [B, D] (pair i is row i of both) and s = min(exp(θ), 100) for the learnable log-scale θ.
 * `positives` [B, B] (symmetric, 0/1, diagonal 1) also counts other pairs as matches (multi-positive InfoNCE).
 */
export function contrastiveLoss(
  imageEmb: tf.Tensor2D,
  textEmb: tf.Tensor2D,
  logitScale: tf.Scalar,
  positives?: tf.Tensor2D,
): tf.Scalar {
  if (
    imageEmb.rank !== 2 ||
    textEmb.rank !== 2 ||
    imageEmb.shape[0] !== textEmb.shape[0] ||
    imageEmb.shape[1] !== textEmb.shape[1] ||
    imageEmb.shape[0] < 1
  )
    throw new RangeError(
      `contrastiveLoss: expected image and text embeddings of the same shape [B ≥ 1, D], got [${imageEmb.shape}] and [${textEmb.shape}]`,
    );
  if (logitScale.rank !== 0)
    throw new RangeError(`contrastiveLoss: logitScale must be a scalar, got shape [${logitScale.shape}]`);
  return tf.tidy(() => {
    const image = l2Normalize(imageEmb);
    const text = l2Normalize(textEmb);
    const scale = tf.exp(logitScale).minimum(LOGIT_SCALE_MAX);
    const logitsPerImage = image.matMul(text, false, true).mul(scale) as tf.Tensor2D; // [B, B]
    const logitsPerText = text.matMul(image, false, true).mul(scale) as tf.Tensor2D; // [B, B]
    return diagonalCrossEntropy(logitsPerImage, positives)
      .add(diagonalCrossEntropy(logitsPerText, positives))
      .mul(0.5) as tf.Scalar;
  });
}

/**
 * Per region, the softmax over the candidates at the region head's scale s: regions [B, Q, E] and candidates
 * [N + 1, E] (the batch's nouns, then no-object; all L2-normalised) → P [B, Q, N + 1].
 */
export function regionNounProbabilities(
  regions: tf.Tensor3D,
  candidates: tf.Tensor2D,
  scale: tf.Scalar,
): tf.Tensor3D {
  const [b, q, e] = regions.shape;
  if (candidates.shape[1] !== e)
    throw new RangeError(
      `regionNounProbabilities: regions [${regions.shape}] and candidates [${candidates.shape}] do not fit`,
    );
  return tf.tidy(() => {
    const logits = tf.matMul(regions.reshape([b * q, e]), candidates, false, true).mul(scale);
    return tf.softmax(logits).reshape([b, q, candidates.shape[0]]) as tf.Tensor3D;
  });
}

/**
 * The naming recipe's noun-level multi-label loss on the regions' probabilities P [B, Q, N + 1] over the batch's
 * nouns and no-object (`regionNounProbabilities`): an image holds noun n as much as its most confident region says,
 * presence[b, n] = max_q P[b, q, n]; binary cross-entropy against the caption's nouns [B, N], summed over the nouns
 * and averaged over the images. With `backgroundWeight` w > 0, each image also holds background:
 * + w·(−log max_q P[b, q, no-object]), which keeps the no-object class from dying early.
 */
export function nounLoss(probabilities: tf.Tensor3D, targets: tf.Tensor2D, backgroundWeight = 0): tf.Scalar {
  const [b, , candidates] = probabilities.shape;
  const nouns = candidates - 1;
  if (targets.shape[0] !== b || targets.shape[1] !== nouns)
    throw new RangeError(
      `nounLoss: probabilities [${probabilities.shape}] (nouns + no-object) and targets [${targets.shape}] do not fit`,
    );
  return tf.tidy(() => {
    const presence = probabilities
      .slice([0, 0, 0], [-1, -1, nouns])
      .max(1)
      .clipByValue(1e-6, 1 - 1e-6); // [B, N]
    const bce = targets
      .mul(presence.log())
      .add(tf.sub(1, targets).mul(tf.sub(1, presence).log()))
      .neg();
    const loss = bce.sum(1).mean();
    if (backgroundWeight === 0) return loss as tf.Scalar;
    const background = probabilities.slice([0, 0, nouns], [-1, -1, 1]).max(1).clipByValue(1e-6, 1);
    return loss.add(background.log().neg().mean().mul(backgroundWeight)) as tf.Scalar;
  });
}

/**
 * Item 4 of the naming issue, "regions with real masks that no caption noun claims are background": in each image,
 * every noun its caption names claims the matched region (`matched[b]`, the queries paired with a pseudo-mask)
 * most probably that noun; each matched region left unclaimed is pushed to no-object, −log P[b, q, no-object],
 * averaged over those regions of the batch (0 when there are none). The claims are read from the probabilities'
 * values, so they carry no gradient.
 */
export function unclaimedRegionLoss(
  probabilities: tf.Tensor3D,
  targets: tf.Tensor2D,
  matched: readonly ArrayLike<number>[],
): tf.Scalar {
  const [b, q, candidates] = probabilities.shape;
  const nouns = candidates - 1;
  if (targets.shape[0] !== b || targets.shape[1] !== nouns || matched.length !== b)
    throw new RangeError(
      `unclaimedRegionLoss: probabilities [${probabilities.shape}], targets [${targets.shape}] and ${matched.length} images' matches do not fit`,
    );
  const p = probabilities.dataSync();
  const named = targets.dataSync();
  const weights = new Float32Array(b * q);
  let unclaimed = 0;
  for (let image = 0; image < b; image++) {
    const regions = Array.from(matched[image]);
    const claimed = new Set<number>();
    for (let n = 0; n < nouns; n++) {
      if (named[image * nouns + n] !== 1 || regions.length === 0) continue;
      const at = (region: number) => p[(image * q + region) * candidates + n];
      claimed.add(regions.reduce((best, region) => (at(region) > at(best) ? region : best)));
    }
    for (const region of regions) {
      if (claimed.has(region)) continue;
      weights[image * q + region] = 1;
      unclaimed++;
    }
  }
  return tf.tidy(() => {
    if (unclaimed === 0) return tf.scalar(0);
    const noObject = probabilities.slice([0, 0, nouns], [-1, -1, 1]).reshape([b, q]).clipByValue(1e-6, 1);
    return noObject
      .log()
      .neg()
      .mul(tf.tensor2d(weights, [b, q]))
      .sum()
      .div(unclaimed) as tf.Scalar;
  });
}
