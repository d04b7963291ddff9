import type * as tf from "@tensorflow/tfjs";
import type { Rng } from "../engine/rng.js";
import { type Activation, activation } from "./activations.js";
import { Dropout } from "./dropout.js";
import { Linear } from "./linear.js";
import { Module } from "./module.js";

/** fc1 → activation → dropout → fc2 → dropout, with timm's names (fc1, fc2). */
export class Mlp extends Module {
  readonly fc1: Linear;
  readonly fc2: Linear;
  private readonly act: (x: tf.Tensor) => tf.Tensor;
  private readonly drop: Dropout;

  constructor(
    inFeatures: number,
    hiddenFeatures: number,
    outFeatures: number,
    options: { rng: Rng; activation?: Activation; dropout?: number },
  ) {
    super();
    this.fc1 = this.module("fc1", new Linear(inFeatures, hiddenFeatures, options));
    this.fc2 = this.module("fc2", new Linear(hiddenFeatures, outFeatures, options));
    this.act = activation(options.activation ?? "gelu");
    this.drop = this.module("drop", new Dropout(options.dropout ?? 0, options.rng.fork()));
  }

  forward(x: tf.Tensor): tf.Tensor {
    return this.drop.forward(this.fc2.forward(this.drop.forward(this.act(this.fc1.forward(x)))));
  }
}
