/**
 * Hungarian matching of predicted masks to target (pseudo-)masks, MaskFormer v1's `HungarianMatcher`
 * (facebookresearch/MaskFormer `mask_former/modeling/matcher.py`) without its class term, since S-Seg has
 * no class head: cost = 20·focal + 1·dice on targets nearest-resized to the prediction size. Re-expressed from
 * the formulas; no upstream code is copied. The cost matrices of a whole batch come from batched matrix products;
 * only the assignment itself runs per image.
 */
import * as tf from "@tensorflow/tfjs";
import { resize } from "../nn/resize.js";
import { linearSumAssignment } from "./linear-sum-assignment.js";
import { FOCAL_ALPHA } from "./losses.js";

/** One image's matched pairs: prediction predIndices[k] ↔ target targetIndices[k], predictions ascending. */
export interface MaskMatch {
  predIndices: Int32Array;
  targetIndices: Int32Array;
}

/** Matches every image's predictions to its targets. */
export interface Matcher {
  /** predMasks [B, Q, h, w] logits; targetMasks: per image [K_b, H, W] 0/1 masks (K_b may be 0). */
  match(predMasks: tf.Tensor4D, targetMasks: readonly tf.Tensor3D[]): MaskMatch[];
}

/** Weights of the matching cost terms (MaskFormer's cost_mask and cost_dice). */
export interface MatchCostWeights {
  focal: number;
  dice: number;
}

/** S-Seg / MaskFormer: cost = 20·focal + 1·dice. */
export const DEFAULT_MATCH_COSTS: MatchCostWeights = { focal: 20, dice: 1 };

/** Check a batch of predictions [B, Q, h, w] against per-image targets [K_b, H, W] of one common size. */
export function checkMaskBatch(predMasks: tf.Tensor, targetMasks: readonly tf.Tensor[], what: string): void {
  if (predMasks.rank !== 4)
    throw new RangeError(`${what}: expected mask logits [B, Q, h, w], got shape [${predMasks.shape}]`);
  const batch = predMasks.shape[0];
  if (targetMasks.length !== batch)
    throw new RangeError(
      `${what}: ${batch} images of predictions but ${targetMasks.length} target mask sets`,
    );
  for (const [b, t] of targetMasks.entries()) {
    if (t.rank !== 3)
      throw new RangeError(`${what}: targets of image ${b} must be [K, H, W], got [${t.shape}]`);
    if (t.shape[1] !== targetMasks[0].shape[1] || t.shape[2] !== targetMasks[0].shape[2])
      throw new RangeError(
        `${what}: all target masks of a batch must have one size; image 0 has ${targetMasks[0].shape.slice(1).join("×")}, image ${b} has ${t.shape.slice(1).join("×")}`,
      );
  }
}

/**
 * The targets of a batch stacked as [B, Kmax, h·w], zero-padded after each image's K_b masks; nearest-resized
 * to `size` when given (MaskFormer v1's matcher: F.interpolate(mode="nearest")). Not differentiable.
 */
export function stackTargets(targetMasks: readonly tf.Tensor3D[], size?: [number, number]): tf.Tensor3D {
  const maxCount = Math.max(0, ...targetMasks.map((t) => t.shape[0]));
  const [height, width] = targetMasks[0].shape.slice(1);
  const [h, w] = size ?? [height, width];
  // Copied on the host: tfjs's CPU gather, pad and stack are far slower than one typed-array copy per image.
  const stacked = new Float32Array(targetMasks.length * maxCount * height * width); // [B, Kmax, H, W]
  for (const [b, t] of targetMasks.entries()) stacked.set(t.dataSync(), b * maxCount * height * width);
  return tf.tidy(() => {
    const masks = tf.tensor4d(stacked, [targetMasks.length * maxCount, height, width, 1]);
    return resize(masks, [h, w], { mode: "nearest" }).reshape([
      targetMasks.length,
      maxCount,
      h * w,
    ]) as tf.Tensor3D;
  });
}

/**
 * tfjs records every op run under a gradient tape and keeps its inputs alive until backprop. Like
 * @torch.no_grad(), run `compute` as the forward pass of a customGrad, inside which the engine records
 * nothing.
 */
function withoutTape<T extends tf.Tensor>(inputs: tf.Tensor[], compute: () => T): T {
  return tf.customGrad(() => ({ value: compute(), gradFunc: () => inputs.map((t) => tf.zerosLike(t)) }))(
    ...inputs,
  ) as T;
}

/**
 * Matching costs of a batch, [B, Q, Kmax]: entry [b, q, k] is the cost of prediction q for target k of
 * image b (columns k ≥ K_b are padding). MaskFormer's `batch_sigmoid_focal_loss` (two matrix products) and
 * `batch_dice_loss`, weighted. No gradient flows through it.
 */
export function matchingCosts(
  predMasks: tf.Tensor4D,
  targetMasks: readonly tf.Tensor3D[],
  weights: MatchCostWeights = DEFAULT_MATCH_COSTS,
): tf.Tensor3D {
  checkMaskBatch(predMasks, targetMasks, "matchingCosts");
  const [batch, queries, h, w] = predMasks.shape;
  return withoutTape([predMasks, ...targetMasks], () =>
    tf.tidy(() => {
      const pixels = h * w;
      const logits = predMasks.reshape([batch, queries, pixels]); // [B, Q, P]
      const targets = stackTargets(targetMasks, [h, w]); // [B, K, P]
      const prob = tf.sigmoid(logits);
      // Focal loss of every pixel if its target were 1 (positive) or 0 (negative), without the α weights,
      // which are applied to the small [B, Q, K] products instead. BCE(x, 1) = softplus(−x) and
      // BCE(x, 0) = softplus(x) share the term log(1 + e^−|x|).
      const tail = tf.log1p(tf.exp(tf.abs(logits).neg()));
      const focalPositive = tf.relu(logits.neg()).add(tail).mul(tf.scalar(1).sub(prob).square());
      const focalNegative = tf.relu(logits).add(tail).mul(prob.square());
      const focal = tf
        .matMul(focalPositive, targets, false, true)
        .mul(FOCAL_ALPHA)
        .add(tf.matMul(focalNegative, tf.scalar(1).sub(targets), false, true).mul(1 - FOCAL_ALPHA))
        .div(pixels); // [B, Q, K]
      const overlap = tf.matMul(prob, targets, false, true); // [B, Q, K]
      const areas = prob.sum(2).expandDims(2).add(targets.sum(2).expandDims(1)); // [B, Q, K]
      const dice = tf.scalar(1).sub(overlap.mul(2).add(1).div(areas.add(1)));
      return focal.mul(weights.focal).add(dice.mul(weights.dice)) as tf.Tensor3D;
    }),
  );
}

/**
 * Per image, the minimum-cost one-to-one matching of its Q predictions [B, Q, h, w] to its K_b targets
 * [K_b, H, W]: min(Q, K_b) pairs, predictions ascending, exactly as scipy's linear_sum_assignment pairs them.
 */
export function hungarianMatch(
  predMasks: tf.Tensor4D,
  targetMasks: readonly tf.Tensor3D[],
  weights: MatchCostWeights = DEFAULT_MATCH_COSTS,
): MaskMatch[] {
  checkMaskBatch(predMasks, targetMasks, "hungarianMatch");
  const queries = predMasks.shape[1];
  const maxCount = Math.max(0, ...targetMasks.map((t) => t.shape[0]));
  if (maxCount === 0)
    return targetMasks.map(() => ({ predIndices: new Int32Array(0), targetIndices: new Int32Array(0) }));
  const costTensor = matchingCosts(predMasks, targetMasks, weights);
  const costs = costTensor.dataSync(); // [B, Q, Kmax]
  costTensor.dispose();
  return targetMasks.map((t, b) => {
    const count = t.shape[0];
    const image = new Float64Array(queries * count); // [Q, K_b]
    for (let q = 0; q < queries; q++)
      for (let k = 0; k < count; k++) image[q * count + k] = costs[(b * queries + q) * maxCount + k];
    const { rowIndices, colIndices } = linearSumAssignment(image, queries, count);
    return { predIndices: rowIndices, targetIndices: colIndices };
  });
}

/** MaskFormer's HungarianMatcher with the class cost removed: the matcher a SetCriterion is built with. */
export class HungarianMatcher implements Matcher {
  readonly weights: MatchCostWeights;

  constructor(weights: MatchCostWeights = DEFAULT_MATCH_COSTS) {
    if (weights.focal === 0 && weights.dice === 0)
      throw new RangeError("HungarianMatcher: all costs can't be 0");
    this.weights = { ...weights };
  }

  match(predMasks: tf.Tensor4D, targetMasks: readonly tf.Tensor3D[]): MaskMatch[] {
    return hungarianMatch(predMasks, targetMasks, this.weights);
  }
}
