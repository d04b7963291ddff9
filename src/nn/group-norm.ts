import * as tf from "@tensorflow/tfjs";
import { init } from "../engine/rng.js";
import { Module } from "./module.js";

/** GroupNorm on channels-last maps [B, H, W, C], as torch.nn.GroupNorm(groups, C, eps) on NCHW. */
export class GroupNorm extends Module {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;

  constructor(
    readonly groups: number,
    readonly channels: number,
    readonly eps = 1e-5,
  ) {
    super();
    if (channels % groups !== 0)
      throw new RangeError(`GroupNorm: channels (${channels}) must be divisible by groups (${groups})`);
    this.weight = this.param("weight", [channels], init.ones(channels));
    this.bias = this.param("bias", [channels], init.zeros(channels));
  }

  forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const [b, h, w, c] = x.shape;
      const grouped = x.reshape([b, h, w, this.groups, c / this.groups]); // (B, H, W, G, C/G)
      const { mean, variance } = tf.moments(grouped, [1, 2, 4], true);
      const normed = grouped
        .sub(mean)
        .mul(tf.rsqrt(variance.add(this.eps)))
        .reshape([b, h, w, c]);
      return normed.mul(this.weight).add(this.bias) as tf.Tensor4D;
    });
  }
}
