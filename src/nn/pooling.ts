import * as tf from "@tensorflow/tfjs";

/** torch's adaptive pooling bins along one axis: bin i covers [floor(i·n/s), ceil((i+1)·n/s)). */
function adaptiveBins(inSize: number, outSize: number): Float32Array {
  const matrix = new Float32Array(outSize * inSize);
  for (let i = 0; i < outSize; i++) {
    const start = Math.floor((i * inSize) / outSize);
    const end = Math.ceil(((i + 1) * inSize) / outSize);
    for (let j = start; j < end; j++) matrix[i * inSize + j] = 1 / (end - start);
  }
  return matrix;
}

/**
 * torch.nn.AdaptiveAvgPool2d(size) on channels-last maps [B, H, W, C] → [B, s, s, C]: one averaging matrix per
 * axis (bins may overlap when s does not divide H), applied as matrix products so the gradient is exact and cheap.
 */
export function adaptiveAvgPool2d(x: tf.Tensor4D, size: number): tf.Tensor4D {
  const [b, h, w, c] = x.shape;
  return tf.tidy(() => {
    const rows = tf.tensor3d(adaptiveBins(h, size), [1, size, h]);
    const cols = tf.tensor3d(adaptiveBins(w, size), [1, size, w]);
    const pooledRows = tf.matMul(rows, x.reshape([b, h, w * c])).reshape([b * size, w, c]); // (B·s, W, C)
    return tf.matMul(cols, pooledRows).reshape([b, size, size, c]) as tf.Tensor4D;
  });
}
