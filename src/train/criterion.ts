/**
 * The mask part of S-Seg's loss: MaskFormer v1's `SetCriterion` (facebookresearch/MaskFormer
 * `mask_former/modeling/criterion.py`) with its "masks" loss only, since S-Seg has no class head. Every
 * decoder layer is matched to the targets on its own (deep supervision) and gets focal×20 + dice×1 on its
 * matched pairs, normalised by the number of target masks in the batch. The matched pairs of all images and layers are
 * selected and scored in one batched pass; only the assignment runs per image. Re-expressed, not copied.
 */
import * as tf from "@tensorflow/tfjs";
import { diceLossPerMask, sigmoidFocalLossPerMask, upsampleMaskLogits } from "./losses.js";
import { checkMaskBatch, type MaskMatch, type Matcher, stackTargets } from "./matcher.js";

/** Weights of the loss terms in the total (MaskFormer's weight_dict; S-Seg: mask 20, dice 1). */
export interface MaskLossWeights {
  /** Focal loss, MaskFormer's "loss_mask". */
  mask: number;
  dice: number;
}

export const DEFAULT_MASK_LOSS_WEIGHTS: MaskLossWeights = { mask: 20, dice: 1 };

export interface CriterionResult {
  /**
   * Unweighted terms under MaskFormer's names: loss_mask and loss_dice for the last decoder layer, then
   * loss_mask_i and loss_dice_i for each earlier layer i.
   */
  losses: Record<string, tf.Scalar>;
  /** Σ weight · term over all of them: the mask loss to minimise. */
  total: tf.Scalar;
  /** matches[layer][image], the layers in the order given. */
  matches: MaskMatch[][];
  /** Target masks in the batch, at least 1: the normaliser. */
  numMasks: number;
}

export class SetCriterion {
  readonly weights: MaskLossWeights;

  constructor(
    readonly matcher: Matcher,
    weights: MaskLossWeights = DEFAULT_MASK_LOSS_WEIGHTS,
  ) {
    this.weights = { ...weights };
  }

  /**
   * layerMaskLogits: each decoder layer's mask logits [B, Q, h, w], the final layer last (MaskFormer's
   * aux_outputs then pred_masks); targetMasks: per image [K_b, H, W] 0/1 masks, one size for the whole batch.
   */
  compute(layerMaskLogits: readonly tf.Tensor4D[], targetMasks: readonly tf.Tensor3D[]): CriterionResult {
    if (layerMaskLogits.length === 0) throw new RangeError("SetCriterion: no decoder layer outputs given");
    for (const [l, logits] of layerMaskLogits.entries())
      checkMaskBatch(logits, targetMasks, `SetCriterion layer ${l}`);
    const numLayers = layerMaskLogits.length;
    const batch = targetMasks.length;
    const maxCount = Math.max(0, ...targetMasks.map((t) => t.shape[0]));
    const numMasks = Math.max(
      targetMasks.reduce((n, t) => n + t.shape[0], 0),
      1,
    );
    const [height, width] = targetMasks[0].shape.slice(1);
    const matches = layerMaskLogits.map((logits) => this.matcher.match(logits, targetMasks));

    const result = tf.tidy(() => {
      // Pairs are laid out by target: row (b, k) of a layer holds the prediction matched to target k of
      // image b, or zeros (and weight 0) when that target is unmatched or padding.
      const pairWeights = new Float32Array(numLayers * batch * maxCount); // [L, B·Kmax]
      const predictions = layerMaskLogits.map((logits, l) => {
        const [, queries, h, w] = logits.shape;
        const selection = new Float32Array(batch * maxCount * queries); // [B, Kmax, Q] one-hot rows
        for (const [b, match] of matches[l].entries()) {
          for (const [k, q] of match.predIndices.entries()) {
            const target = match.targetIndices[k];
            const pair = b * maxCount + target;
            if (
              !(q >= 0 && q < queries && target >= 0 && target < targetMasks[b].shape[0]) ||
              pairWeights[l * batch * maxCount + pair]
            )
              throw new RangeError(
                `SetCriterion layer ${l}, image ${b}: the matcher paired prediction ${q} with target ${target}, which is out of range or already matched`,
              );
            selection[pair * queries + q] = 1;
            pairWeights[l * batch * maxCount + pair] = 1 / numMasks;
          }
        }
        // A one-hot matrix product rather than a gather: tfjs's gather gradient is a slow per-row loop.
        const picked = tf.matMul(
          tf.tensor3d(selection, [batch, maxCount, queries]),
          logits.reshape([batch, queries, h * w]),
        );
        const upsampled = upsampleMaskLogits(picked.reshape([batch * maxCount, h, w]) as tf.Tensor3D, [
          height,
          width,
        ]);
        return upsampled.reshape([batch * maxCount, height * width]);
      });
      const predLogits = tf.concat(predictions) as tf.Tensor2D; // [L·B·Kmax, H·W]
      const targets = stackTargets(targetMasks).reshape([batch * maxCount, height * width]);
      // concat of copies, not tile: tfjs's CPU Tile indexes element by element (~120 ms per step here)
      const layerTargets = tf.concat(Array.from({ length: numLayers }, () => targets)) as tf.Tensor2D; // [L·B·Kmax, H·W]
      const weights = tf.tensor2d(pairWeights, [numLayers, batch * maxCount]);
      const perLayer = (perPair: tf.Tensor1D) => {
        const sums = perPair
          .reshape([numLayers, batch * maxCount])
          .mul(weights)
          .sum(1); // [L]
        // Slices, not unstack: tfjs's unstack gradient fails when there is a single layer.
        return Array.from({ length: numLayers }, (_, l) => sums.slice(l, 1).reshape([]) as tf.Scalar);
      };
      const focal = perLayer(sigmoidFocalLossPerMask(predLogits, layerTargets));
      const dice = perLayer(diceLossPerMask(predLogits, layerTargets));

      const losses: Record<string, tf.Scalar> = {};
      const suffix = (l: number) => (l === numLayers - 1 ? "" : `_${l}`);
      // MaskFormer's order: the final layer's terms first, then each auxiliary layer's.
      for (const l of [numLayers - 1, ...Array.from({ length: numLayers - 1 }, (_, i) => i)]) {
        losses[`loss_mask${suffix(l)}`] = focal[l];
        losses[`loss_dice${suffix(l)}`] = dice[l];
      }
      const total = tf
        .addN(focal)
        .mul(this.weights.mask)
        .add(tf.addN(dice).mul(this.weights.dice)) as tf.Scalar;
      return { losses, total };
    });
    return { ...result, matches, numMasks };
  }
}
