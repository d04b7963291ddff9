import type * as tf from "@tensorflow/tfjs";
import { layerNorm } from "../engine/kernels/norm.js";
import { init } from "../engine/rng.js";
import { Module } from "./module.js";

/** LayerNorm over the last axis with biased variance, as torch.nn.LayerNorm(dim, eps). */
export class LayerNorm extends Module {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;

  constructor(
    readonly dim: number,
    readonly eps = 1e-5,
  ) {
    super();
    this.weight = this.param("weight", [dim], init.ones(dim));
    this.bias = this.param("bias", [dim], init.zeros(dim));
  }

  forward(x: tf.Tensor): tf.Tensor {
    return layerNorm(x, this.weight, this.bias, this.eps);
  }
}
