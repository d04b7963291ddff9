import * as tf from "@tensorflow/tfjs";
import { init, type Rng } from "../engine/rng.js";
import { Module } from "./module.js";

/** A lookup table [num, dim] indexed by integer ids (torch.nn.Embedding, init N(0, std)). */
export class Embedding extends Module {
  readonly weight: tf.Variable;

  constructor(
    readonly num: number,
    readonly dim: number,
    options: { rng: Rng; std?: number },
  ) {
    super();
    this.weight = this.param("weight", [num, dim], init.normal(options.rng, num * dim, options.std ?? 1));
  }

  /** ids: int32 of any shape → [...ids.shape, dim]. */
  forward(ids: tf.Tensor): tf.Tensor {
    return tf.tidy(() => tf.gather(this.weight, ids.flatten()).reshape([...ids.shape, this.dim]));
  }
}
