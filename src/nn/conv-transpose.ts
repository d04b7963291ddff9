import * as tf from "@tensorflow/tfjs";
import { init, type Rng } from "../engine/rng.js";
import { Module } from "./module.js";

/**
 * torch.nn.ConvTranspose2d with kernel = stride (no padding, groups 1): each input pixel paints its own k×k block,
 * so the layer is one matrix product to Cout·k·k channels and a depth-to-space rearrangement. Channels-last input
 * [B, H, W, Cin] → [B, k·H, k·W, Cout]; the weight keeps torch's layout [Cin, Cout, k, k] and default init.
 */
export class ConvTranspose2d extends Module {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    readonly kernelSize: number,
    options: { rng: Rng; stride: number },
  ) {
    super();
    if (options.stride !== kernelSize)
      throw new RangeError(
        `ConvTranspose2d: only kernel size = stride is supported (non-overlapping blocks), got kernel ${kernelSize}, stride ${options.stride}`,
      );
    // torch computes the transposed weight's fan-in from its dimension 1 (Cout · k · k)
    const bound = 1 / Math.sqrt(outChannels * kernelSize * kernelSize);
    const size = inChannels * outChannels * kernelSize * kernelSize;
    this.weight = this.param(
      "weight",
      [inChannels, outChannels, kernelSize, kernelSize],
      init.uniform(options.rng, size, -bound, bound),
    );
    this.bias = this.param("bias", [outChannels], init.uniform(options.rng, outChannels, -bound, bound));
  }

  forward(x: tf.Tensor4D): tf.Tensor4D {
    const [b, h, w, cin] = x.shape;
    if (cin !== this.inChannels)
      throw new RangeError(`ConvTranspose2d: expected ${this.inChannels} input channels, got [${x.shape}]`);
    const k = this.kernelSize;
    const cout = this.outChannels;
    return tf.tidy(() => {
      const blocks = tf.matMul(x.reshape([b * h * w, cin]), this.weight.reshape([cin, cout * k * k])); // (o, di, dj)
      return blocks
        .reshape([b, h, w, cout, k, k])
        .transpose([0, 1, 4, 2, 5, 3]) // (B, H, di, W, dj, Cout)
        .reshape([b, h * k, w * k, cout])
        .add(this.bias) as tf.Tensor4D;
    });
  }
}
