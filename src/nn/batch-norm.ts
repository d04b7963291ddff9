import * as tf from "@tensorflow/tfjs";
import { init } from "../engine/rng.js";
import { Module } from "./module.js";

/**
 * BatchNorm over the last (channel) axis of [B, C] or [B, H, W, C], as torch.nn.BatchNorm1d/2d:
 * training normalises with the biased batch variance and updates the running variance with the unbiased one.
 * `frozen` (a fine-tuned pretrained backbone's norms, as detectron2's FrozenBatchNorm2d): the stored statistics
 * and affine are constants — saved with the weights but not trained — and it never switches to batch statistics.
 */
export class BatchNorm extends Module {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;
  readonly runningMean: tf.Variable;
  readonly runningVar: tf.Variable;

  constructor(
    readonly channels: number,
    readonly eps = 1e-5,
    readonly momentum = 0.1,
    readonly frozen = false,
  ) {
    super();
    const affine = frozen ? this.buffer.bind(this) : this.param.bind(this);
    this.weight = affine("weight", [channels], init.ones(channels));
    this.bias = affine("bias", [channels], init.zeros(channels));
    this.runningMean = this.buffer("running_mean", [channels], init.zeros(channels));
    this.runningVar = this.buffer("running_var", [channels], init.ones(channels));
  }

  /** A frozen norm as the per-channel affine it is, x·scale + shift (to fold into the layer before it). */
  frozenAffine(): { scale: tf.Tensor1D; shift: tf.Tensor1D } {
    if (!this.frozen) throw new Error("BatchNorm: only a frozen norm is a fixed affine");
    return tf.tidy(() => {
      const scale = this.weight.mul(tf.rsqrt(this.runningVar.add(this.eps))) as tf.Tensor1D;
      return { scale, shift: this.bias.sub(this.runningMean.mul(scale)) as tf.Tensor1D };
    });
  }

  forward(x: tf.Tensor): tf.Tensor {
    const axes = x.shape.map((_, i) => i).slice(0, -1);
    if (this.frozen)
      return tf.tidy(() => {
        const { scale, shift } = this.frozenAffine();
        return x.mul(scale).add(shift);
      });
    if (!this.training) {
      return tf.tidy(() =>
        x
          .sub(this.runningMean)
          .mul(tf.rsqrt(this.runningVar.add(this.eps)))
          .mul(this.weight)
          .add(this.bias),
      );
    }
    const count = x.size / this.channels;
    if (count < 2)
      throw new RangeError(`BatchNorm: training needs more than 1 value per channel, got shape [${x.shape}]`);
    return tf.tidy(() => {
      const { mean, variance } = tf.moments(x, axes);
      const m = this.momentum; // the running-stat update is off the loss path, so no gradient flows into it
      const unbiased = variance.mul(count / (count - 1));
      this.runningMean.assign(this.runningMean.mul(1 - m).add(mean.mul(m)));
      this.runningVar.assign(this.runningVar.mul(1 - m).add(unbiased.mul(m)));
      return x
        .sub(mean)
        .mul(tf.rsqrt(variance.add(this.eps)))
        .mul(this.weight)
        .add(this.bias);
    });
  }
}
