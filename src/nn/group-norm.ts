import type * as tf from "@tensorflow/tfjs";
import { groupNorm } from "../engine/kernels/norm.js";
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
    if (x.rank !== 4 || x.shape[3] !== this.channels)
      throw new RangeError(`GroupNorm: expected [B, H, W, ${this.channels}] but received [${x.shape}]`);
    return groupNorm(x, this.weight, this.bias, this.groups, this.eps);
  }
}
