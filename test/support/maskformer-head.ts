import type * as tf from "@tensorflow/tfjs";
import type { MultiScaleFeatures } from "../../src/model/pixel-decoder.js";
import type { TensorData } from "../../src/nn/module.js";

/** The backbone outputs the MaskFormer head reads, in the fixture's order. */
export const FEATURES = ["res2", "res3", "res4", "res5"] as const;

/** res2 … res5 from maps listed in that order. */
export function featureMaps(maps: tf.Tensor[]): MultiScaleFeatures {
  const [res2, res3, res4, res5] = maps as tf.Tensor4D[];
  return { res2, res3, res4, res5 };
}

/** The keys under `prefix`, prefix removed: one part (`pixel_decoder.`, `predictor.`) of MaskFormerHead's weights. */
export function stateUnder(state: Map<string, TensorData>, prefix: string): Map<string, TensorData> {
  return new Map(
    [...state].filter(([k]) => k.startsWith(prefix)).map(([k, v]) => [k.slice(prefix.length), v]),
  );
}
