import * as tf from "@tensorflow/tfjs";

/** x / max(‖x‖₂, 1e-12) along the last axis, as torch's F.normalize: the one L2 normalisation of the package. */
export function l2Normalize<T extends tf.Tensor>(x: T): T {
  return tf.tidy(() => x.div(x.square().sum(-1, true).sqrt().maximum(1e-12)) as T);
}

/**
 * Mean cosine between different rows of L2-normalised rows [..., n, d] → [...] (0 for n < 2): how far apart a set
 * of embeddings is (→ 1: they say one thing).
 */
export function meanPairwiseCosine(rows: tf.Tensor): tf.Tensor {
  const n = rows.shape[rows.rank - 2];
  return tf.tidy(() => {
    const sums = tf.matMul(rows, rows, false, true).sum([-2, -1]);
    return n < 2 ? tf.zerosLike(sums) : sums.sub(n).div(n * n - n);
  });
}
