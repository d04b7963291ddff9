import * as tf from "@tensorflow/tfjs";

/** x / max(‖x‖₂, 1e-12) along the last axis, as torch's F.normalize: the one L2 normalisation of the package. */
export function l2Normalize<T extends tf.Tensor>(x: T): T {
  return tf.tidy(() => x.div(x.square().sum(-1, true).sqrt().maximum(1e-12)) as T);
}
