import * as tf from "@tensorflow/tfjs";
import { init, type Rng } from "../engine/rng.js";
import { Module } from "./module.js";

export interface Conv2dOptions {
  rng: Rng;
  stride?: number;
  padding?: number;
  bias?: boolean;
}

/**
 * 2-D convolution on channels-last input [B, H, W, Cin] with torch.nn.Conv2d's weight layout [Cout, Cin, kh, kw],
 * symmetric zero padding and default init, so PyTorch weights load unchanged.
 */
export class Conv2d extends Module {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable | null;
  readonly stride: number;
  readonly padding: number;

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    readonly kernelSize: number,
    options: Conv2dOptions,
  ) {
    super();
    this.stride = options.stride ?? 1;
    this.padding = options.padding ?? 0;
    const fanIn = inChannels * kernelSize * kernelSize;
    const bound = 1 / Math.sqrt(fanIn); // kaiming_uniform(a=√5) reduces to this bound
    this.weight = this.param(
      "weight",
      [outChannels, inChannels, kernelSize, kernelSize],
      init.uniform(options.rng, outChannels * fanIn, -bound, bound),
    );
    this.bias =
      (options.bias ?? true)
        ? this.param("bias", [outChannels], init.uniform(options.rng, outChannels, -bound, bound))
        : null;
  }

  forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const filter = this.weight.transpose([2, 3, 1, 0]) as tf.Tensor4D; // (kh, kw, Cin, Cout)
      const p = this.padding;
      const pad: [[number, number], [number, number], [number, number], [number, number]] = [
        [0, 0],
        [p, p],
        [p, p],
        [0, 0],
      ];
      return tf.fused.conv2d({
        x,
        filter,
        strides: this.stride,
        pad: p === 0 ? "valid" : pad,
        bias: this.bias ?? undefined,
      });
    });
  }
}
