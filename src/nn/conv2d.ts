import * as tf from "@tensorflow/tfjs";
import { init, type Rng } from "../engine/rng.js";
import { Module } from "./module.js";

/** Zero padding ((top, bottom), (left, right)), for the asymmetric kind (Keras pads stride-2 convs bottom/right). */
export type AsymmetricPadding = [[number, number], [number, number]];

export interface Conv2dOptions {
  rng: Rng;
  stride?: number;
  /** The same on every side (torch's), or per side. */
  padding?: number | AsymmetricPadding;
  bias?: boolean;
  /** 1 (default) or inChannels: a depthwise convolution, each output channel seeing one input channel. */
  groups?: number;
}

/**
 * 2-D convolution on channels-last input [B, H, W, Cin] with torch.nn.Conv2d's weight layout
 * [Cout, Cin / groups, kh, kw], symmetric zero padding and default init, so PyTorch weights load unchanged.
 * Groups are 1 or Cin (depthwise, Cout a multiple of Cin), the two that tfjs has kernels for.
 */
export class Conv2d extends Module {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable | null;
  readonly stride: number;
  readonly padding: number | AsymmetricPadding;
  readonly groups: number;

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    readonly kernelSize: number,
    options: Conv2dOptions,
  ) {
    super();
    this.stride = options.stride ?? 1;
    this.padding = options.padding ?? 0;
    this.groups = options.groups ?? 1;
    if (this.groups !== 1 && (this.groups !== inChannels || outChannels % inChannels !== 0))
      throw new RangeError(
        `Conv2d: groups must be 1 or inChannels with outChannels a multiple of it (depthwise); got groups ${this.groups} for ${inChannels} → ${outChannels} channels`,
      );
    const groupChannels = inChannels / this.groups;
    const fanIn = groupChannels * kernelSize * kernelSize;
    const bound = 1 / Math.sqrt(fanIn); // kaiming_uniform(a=√5) reduces to this bound
    this.weight = this.param(
      "weight",
      [outChannels, groupChannels, kernelSize, kernelSize],
      init.uniform(options.rng, outChannels * fanIn, -bound, bound),
    );
    this.bias =
      (options.bias ?? true)
        ? this.param("bias", [outChannels], init.uniform(options.rng, outChannels, -bound, bound))
        : null;
  }

  /** tfjs's form of the padding: "valid" for none, else [[0, 0], (top, bottom), (left, right), [0, 0]]. */
  private tfjsPadding(): "valid" | tf.backend_util.ExplicitPadding {
    const p = this.padding;
    if (p === 0) return "valid";
    const [rows, cols] = typeof p === "number" ? [[p, p] as const, [p, p] as const] : p;
    return [[0, 0], [...rows], [...cols], [0, 0]];
  }

  /**
   * [B, H, W, Cin] → [B, H', W', Cout]. With `affine` (a frozen BatchNorm folded in), conv(x)·scale + shift per output
   * channel, computed as one convolution with the weight scaled and `shift` as its bias.
   */
  forward(x: tf.Tensor4D, affine?: { scale: tf.Tensor1D; shift: tf.Tensor1D }): tf.Tensor4D {
    return tf.tidy(() => {
      const weight = affine ? this.weight.mul(affine.scale.reshape([-1, 1, 1, 1])) : this.weight;
      const bias = affine
        ? this.bias
          ? this.bias.mul(affine.scale).add(affine.shift)
          : affine.shift
        : this.bias;
      return this.groups !== 1
        ? this.depthwise(x, weight as tf.Tensor4D, bias)
        : tf.fused.conv2d({
            x,
            filter: weight.transpose([2, 3, 1, 0]) as tf.Tensor4D, // (kh, kw, Cin, Cout)
            strides: this.stride,
            pad: this.tfjsPadding(),
            bias: bias ?? undefined,
          });
    });
  }

  /**
   * The convolution of `inputs` concatenated along channels, computed as the sum of each input's convolution with
   * its slice of the weight: no concatenated map is built, whose gradient (a split along the channel axis) is one
   * of tfjs-cpu's slowest kernels. Groups must be 1.
   */
  forwardConcat(inputs: tf.Tensor4D[]): tf.Tensor4D {
    const channels = inputs.reduce((sum, x) => sum + x.shape[3], 0);
    if (this.groups !== 1 || channels !== this.inChannels)
      throw new RangeError(
        `Conv2d.forwardConcat: needs groups 1 and inputs with ${this.inChannels} channels in all, got ${channels}`,
      );
    return tf.tidy(() => {
      let offset = 0;
      const parts = inputs.map((x) => {
        const c = x.shape[3];
        const weight = this.weight.slice([0, offset, 0, 0], [-1, c, -1, -1]);
        offset += c;
        return tf.conv2d(x, weight.transpose([2, 3, 1, 0]) as tf.Tensor4D, this.stride, this.tfjsPadding());
      });
      const sum = tf.addN(parts) as tf.Tensor4D;
      return this.bias ? sum.add(this.bias) : sum;
    });
  }

  /** torch's output channel c·m + j (m = Cout / Cin) is tfjs's depthwise channel c, multiplier j. */
  private depthwise(x: tf.Tensor4D, weight: tf.Tensor4D, bias: tf.Tensor | null): tf.Tensor4D {
    const [cout, , kh, kw] = weight.shape;
    const multiplier = cout / this.inChannels;
    const filter = weight
      .reshape([this.inChannels, multiplier, kh, kw])
      .transpose([2, 3, 0, 1]) as tf.Tensor4D; // (kh, kw, Cin, multiplier)
    // tfjs's fused depthwise form takes no per-side padding; the bias is added after the plain one instead
    if (typeof this.padding !== "number") {
      const y = tf.depthwiseConv2d(x, filter, this.stride, this.tfjsPadding());
      return bias ? y.add(bias) : y;
    }
    return tf.fused.depthwiseConv2d({
      x,
      filter,
      strides: this.stride,
      pad: this.padding === 0 ? "valid" : this.padding,
      bias: bias ?? undefined,
    });
  }
}
