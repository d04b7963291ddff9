/**
 * MobileNetV2 (Sandler et al., 2018) as Keras Applications builds it (width multiplier 1.0), convolutional
 * trunk only: the frozen `mobilenet:<file>` pseudo-mask feature extractor. Built for the weights nsfwjs ships
 * (an ImageNet-initialised MobileNetV2 fine-tuned as an NSFW classifier), converted by
 * tools/convert-nsfwjs-mobilenet.mjs to these names and PyTorch layouts:
 *   stem.{conv,bn}                                  Keras Conv1 / bn_Conv1 (3×3, stride 2, 32 channels)
 *   blocks.{i}.{expand,depthwise,project}.{conv,bn}  Keras block_i (block 0 is "expanded_conv", without expand)
 *   head.{conv,bn}                                  Keras Conv_1 / Conv_1_bn (1×1, 1280 channels)
 * Each conv has no bias and is followed by BatchNorm (eps 1e-3, Keras's) and, except for the linear
 * bottleneck (project), ReLU6. Inputs are RGB pixels / 255, as nsfwjs feeds its model.
 */
import * as tf from "@tensorflow/tfjs";
import { relu6 } from "../engine/kernels/norm.js";
import { Rng } from "../engine/rng.js";
import { BatchNorm } from "../nn/batch-norm.js";
import { type AsymmetricPadding, Conv2d } from "../nn/conv2d.js";
import { Module, ModuleList } from "../nn/module.js";

/** Keras's BatchNormalization epsilon (PyTorch's default is 1e-5). */
const BN_EPS = 1e-3;

/** Keras's table: expansion t, output channels c, blocks n, stride s of the stage's first block. */
const STAGES: readonly [t: number, c: number, n: number, s: number][] = [
  [1, 16, 1, 1],
  [6, 24, 2, 2],
  [6, 32, 3, 2],
  [6, 64, 4, 2],
  [6, 96, 3, 1],
  [6, 160, 3, 2],
  [6, 320, 1, 1],
];
const STEM_CHANNELS = 32;
const HEAD_CHANNELS = 1280;
/** Keras pads stride-2 convolutions at the bottom and right only (ZeroPadding2D ((0, 1), (0, 1)), then "valid"). */
const KERAS_STRIDE2_PADDING: AsymmetricPadding = [
  [0, 1],
  [0, 1],
];

export const OUTPUT_STRIDES = [2, 4, 8, 16, 32] as const;
export type OutputStride = (typeof OUTPUT_STRIDES)[number];

/** A convolution without bias, its BatchNorm and optionally ReLU6 (Keras: Conv2D or DepthwiseConv2D, BN, ReLU(6)). */
class ConvBn extends Module {
  readonly conv: Conv2d;
  readonly bn: BatchNorm;
  private readonly relu6: boolean;

  constructor(
    inChannels: number,
    outChannels: number,
    kernelSize: 1 | 3,
    options: { rng: Rng; stride?: 1 | 2; depthwise?: boolean; relu6: boolean; frozenNorm?: boolean },
  ) {
    super();
    const stride = options.stride ?? 1;
    this.conv = this.module(
      "conv",
      new Conv2d(inChannels, outChannels, kernelSize, {
        rng: options.rng,
        stride,
        padding: kernelSize === 1 ? 0 : stride === 1 ? 1 : KERAS_STRIDE2_PADDING, // Keras's "same"
        bias: false,
        groups: options.depthwise ? inChannels : 1,
      }),
    );
    this.bn = this.module("bn", new BatchNorm(outChannels, BN_EPS, undefined, options.frozenNorm));
    this.relu6 = options.relu6;
  }

  forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      // a frozen norm is folded into the convolution: one op instead of three on the largest activations
      const y = this.bn.frozen
        ? this.conv.forward(x, this.bn.frozenAffine())
        : (this.bn.forward(this.conv.forward(x)) as tf.Tensor4D);
      return this.relu6 ? (relu6(y) as tf.Tensor4D) : y;
    });
  }
}

/** Inverted residual: 1×1 expansion, 3×3 depthwise (carries the stride), linear 1×1 projection, skip if shapes match. */
class InvertedResidual extends Module {
  readonly expand: ConvBn | null;
  readonly depthwise: ConvBn;
  readonly project: ConvBn;
  private readonly residual: boolean;

  constructor(
    inChannels: number,
    outChannels: number,
    stride: 1 | 2,
    expansion: number,
    norm: { rng: Rng; frozenNorm: boolean },
  ) {
    super();
    const hidden = inChannels * expansion;
    this.expand =
      expansion === 1
        ? null
        : this.module("expand", new ConvBn(inChannels, hidden, 1, { ...norm, relu6: true }));
    this.depthwise = this.module(
      "depthwise",
      new ConvBn(hidden, hidden, 3, { ...norm, stride, depthwise: true, relu6: true }),
    );
    this.project = this.module("project", new ConvBn(hidden, outChannels, 1, { ...norm, relu6: false }));
    this.residual = stride === 1 && inChannels === outChannels;
  }

  forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const expanded = this.expand ? this.expand.forward(x) : x;
      const y = this.project.forward(this.depthwise.forward(expanded));
      return this.residual ? x.add(y) : y;
    });
  }
}

export class MobileNetV2 extends Module {
  readonly stem: ConvBn;
  readonly blocks: ModuleList<InvertedResidual>;
  readonly head: ConvBn;
  /** The output stride after each block. */
  private readonly blockStrides: number[] = [];

  /**
   * Randomly initialised (Conv2d's default init, BatchNorm at identity) until weights are loaded. `frozenNorm`:
   * every BatchNorm a constant affine from its stored statistics (fine-tuning a pretrained trunk).
   */
  constructor(options: { rng?: Rng; frozenNorm?: boolean } = {}) {
    super();
    const norm = { rng: options.rng ?? new Rng(0), frozenNorm: options.frozenNorm ?? false };
    this.stem = this.module("stem", new ConvBn(3, STEM_CHANNELS, 3, { ...norm, stride: 2, relu6: true }));
    const blocks: InvertedResidual[] = [];
    let [channels, stride] = [STEM_CHANNELS, 2];
    for (const [expansion, outChannels, count, firstStride] of STAGES) {
      for (let i = 0; i < count; i++) {
        const blockStride = i === 0 ? (firstStride as 1 | 2) : 1;
        blocks.push(new InvertedResidual(channels, outChannels, blockStride, expansion, norm));
        stride *= blockStride;
        this.blockStrides.push(stride);
        channels = outChannels;
      }
    }
    this.blocks = this.module("blocks", new ModuleList(blocks));
    this.head = this.module("head", new ConvBn(channels, HEAD_CHANNELS, 1, { ...norm, relu6: true }));
  }

  /** Channels of the activations `forward` returns at `outputStride`. */
  outputChannels(outputStride: OutputStride): number {
    if (outputStride === 32) return HEAD_CHANNELS;
    const last = this.blockStrides.lastIndexOf(outputStride);
    return last < 0 ? STEM_CHANNELS : this.blocks.items[last].project.conv.outChannels;
  }

  /**
   * Images (B, H, W, 3), RGB pixels / 255 → the activations at `outputStride`, (B, ⌊H/s⌋, ⌊W/s⌋, C): the end
   * of the stage at that stride, i.e. the output of its last block (2: 16 channels, 4: 24, 8: 32, 16: 96), and
   * for 32 the trunk's output after the head (Keras's out_relu, 1280 channels). Later blocks are not run.
   */
  forward(images: tf.Tensor4D, outputStride: OutputStride = 32): tf.Tensor4D {
    return this.stageOutputs(images, [outputStride])[0];
  }

  /** The ends of several stages (see forward) from one pass, in the order asked. */
  stageOutputs(images: tf.Tensor4D, outputStrides: readonly OutputStride[]): tf.Tensor4D[] {
    for (const stride of outputStrides) {
      if (!OUTPUT_STRIDES.includes(stride))
        throw new RangeError(
          `MobileNetV2: outputStride must be one of ${OUTPUT_STRIDES.join(", ")}, got ${stride}`,
        );
    }
    const deepest = Math.max(...outputStrides);
    const [, height, width, channels] = images.shape;
    if (images.rank !== 4 || channels !== 3)
      throw new RangeError(`MobileNetV2: expected images [B, H, W, 3] but received [${images.shape}]`);
    if (height < deepest || width < deepest)
      throw new RangeError(
        `MobileNetV2: image size ${height}×${width} (H×W) is smaller than the output stride ${deepest}`,
      );
    return tf.tidy(() => {
      const stageEnds = new Map<number, tf.Tensor4D>();
      const strides = this.blockStrides;
      const blocks = this.blocks.items;
      let x = this.stem.forward(images);
      for (let i = 0; i < blocks.length && strides[i] <= deepest; i++) {
        x = blocks[i].forward(x);
        if (strides[i + 1] !== strides[i]) stageEnds.set(strides[i], x);
      }
      if (deepest === 32) stageEnds.set(32, this.head.forward(x));
      return outputStrides.map((stride) => stageEnds.get(stride)!);
    });
  }
}
