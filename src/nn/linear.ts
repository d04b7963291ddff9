import * as tf from "@tensorflow/tfjs";
import { init, type Rng } from "../engine/rng.js";
import { Module } from "./module.js";

export interface LinearOptions {
  rng: Rng;
  bias?: boolean;
}

/** y = x·Wᵀ + b over the last axis; weight [out, in] as in torch.nn.Linear, with its default init. */
export class Linear extends Module {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable | null;

  constructor(
    readonly inFeatures: number,
    readonly outFeatures: number,
    options: LinearOptions,
  ) {
    super();
    const bound = 1 / Math.sqrt(inFeatures); // kaiming_uniform(a=√5) reduces to this bound
    this.weight = this.param(
      "weight",
      [outFeatures, inFeatures],
      init.uniform(options.rng, outFeatures * inFeatures, -bound, bound),
    );
    this.bias =
      (options.bias ?? true)
        ? this.param("bias", [outFeatures], init.uniform(options.rng, outFeatures, -bound, bound))
        : null;
  }

  forward(x: tf.Tensor): tf.Tensor {
    const lead = x.shape.slice(0, -1);
    const x2 = x.reshape([-1, this.inFeatures]); // (M, in)
    const y = tf.fused.matMul({ a: x2, b: this.weight, transposeB: true, bias: this.bias ?? undefined });
    return y.reshape([...lead, this.outFeatures]);
  }
}
