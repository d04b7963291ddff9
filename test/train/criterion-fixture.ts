/** tools/oracles/maskformer_loss_fixtures.py's criterion fixtures, as the matcher and criterion take them. */
import * as tf from "@tensorflow/tfjs";
import { Fixture } from "../support/fixtures.js";

export interface CriterionConfig {
  target_counts: number[];
  num_masks: number;
  /** matches[layer][image] = [prediction indices, target indices]. */
  matches: [number[], number[]][][];
  /** MaskFormer's loss dict, in its order. */
  losses: Record<string, number>;
  total: number;
}

export const CRITERION_CASES = ["criterion_main", "criterion_few_queries"];

export function loadCriterionFixture(name: string): { fx: Fixture; config: CriterionConfig } {
  const fx = new Fixture(`train/${name}.safetensors`);
  return { fx, config: fx.config as unknown as CriterionConfig };
}

/** The stored targets [T, H, W] cut into per-image [K_b, H, W] tensors (some with K_b = 0). */
export function targetsPerImage(fx: Fixture, counts: number[]): tf.Tensor3D[] {
  const all = fx.tensor("input.targets") as tf.Tensor3D;
  const [, height, width] = all.shape;
  let offset = 0;
  const out = counts.map((count) => {
    const part = tf.slice(all, [offset, 0, 0], [count, height, width]);
    offset += count;
    return part;
  });
  all.dispose();
  return out;
}

/** Logits of every decoder layer, [B, Q, h, w] each. */
export function layerLogits(fx: Fixture, config: CriterionConfig): tf.Tensor4D[] {
  return config.matches.map((_, layer) => fx.tensor(`input.logits.${layer}`) as tf.Tensor4D);
}
