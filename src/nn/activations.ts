import * as tf from "@tensorflow/tfjs";

import { gelu } from "../engine/kernels/norm.js";

/** Exact GELU, x·Φ(x), as torch.nn.GELU() (approximate='none'); fused on the native cpu path. */
export { gelu };

/** Tanh-approximated GELU, as torch.nn.GELU(approximate='tanh'). */
export function geluTanh(x: tf.Tensor): tf.Tensor {
  return tf.tidy(() => {
    const inner = x.add(x.mul(x).mul(x).mul(0.044715)).mul(Math.sqrt(2 / Math.PI));
    return x.mul(tf.tanh(inner).add(1)).mul(0.5);
  });
}

export type Activation = "gelu" | "gelu_tanh" | "relu";

export function activation(name: Activation): (x: tf.Tensor) => tf.Tensor {
  switch (name) {
    case "gelu":
      return gelu;
    case "gelu_tanh":
      return geluTanh;
    case "relu":
      return (x) => tf.relu(x);
  }
}
