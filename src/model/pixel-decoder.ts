/**
 * MaskFormer's pixel decoder: `BasePixelDecoder`, a plain FPN from the backbone's four maps (strides 4–32) to
 * per-pixel **mask features** at stride 4. Re-expressed from MaskFormer's design (CC BY-NC 4.0, not copied;
 * facebookresearch/MaskFormer `mask_former/modeling/heads/pixel_decoder.py`), with the behaviour of detectron2's
 * `Conv2d`-with-norm wrapper (Apache-2.0).
 * Parameter names are MaskFormer's (`adapter_{1,2,3}`, `layer_{1..4}`, each with `.norm`, and `mask_features`;
 * prefix `sem_seg_head.pixel_decoder.` in a MaskFormer checkpoint), so its weights load with `loadStateDict`.
 * Maps are channels-last ([B, H, W, C]); weights keep PyTorch's layout.
 */
import * as tf from "@tensorflow/tfjs";
import { init, Rng } from "../engine/rng.js";
import { Conv2d } from "../nn/conv2d.js";
import { GroupNorm } from "../nn/group-norm.js";
import { Module } from "../nn/module.js";
import { resize } from "../nn/resize.js";

/** The backbone's maps, channels-last: res2 at stride 4 … res5 at stride 32 (detectron2's names). */
export interface MultiScaleFeatures {
  res2: tf.Tensor4D;
  res3: tf.Tensor4D;
  res4: tf.Tensor4D;
  res5: tf.Tensor4D;
}

const FEATURES = ["res2", "res3", "res4", "res5"] as const;

export interface PixelDecoderConfig {
  /** Channels of res2, res3, res4, res5 (Swin-S: 96, 192, 384, 768). */
  inChannels: readonly [number, number, number, number];
  /** Width of every FPN map (SEM_SEG_HEAD.CONVS_DIM). */
  convDim: number;
  /** Channels of the mask features, the per-pixel vectors the queries' mask embeddings meet (MASK_DIM). */
  maskDim: number;
  /** GroupNorm groups: detectron2's norm "GN" is GroupNorm(32, C). */
  normGroups: number;
}

/** MaskFormer's ADE20K configs (CONVS_DIM = MASK_DIM = 256, NORM "GN"); add the backbone's channels. */
export const maskformerPixelDecoder = { convDim: 256, maskDim: 256, normGroups: 32 } as const;
/** Half width for CPU training: the stride-4 3×3 convs dominate the head's cost and scale with convDim². */
export const smallPixelDecoder = { convDim: 128, maskDim: 128, normGroups: 32 } as const;

/** fvcore's c2_xavier_fill (Caffe2's XavierFill): kaiming_uniform(a=1), i.e. U(±√(3/fan_in)), zero bias. */
export function c2XavierFill(conv: Conv2d, rng: Rng): void {
  tf.tidy(() => {
    const fanIn = conv.weight.size / conv.outChannels;
    const bound = Math.sqrt(3 / fanIn);
    conv.weight.assign(tf.tensor(init.uniform(rng, conv.weight.size, -bound, bound), conv.weight.shape));
    conv.bias?.assign(tf.zerosLike(conv.bias));
  });
}

/**
 * detectron2's `layers.Conv2d(…, bias=False, norm=GroupNorm, activation)`: convolution, GroupNorm, optional
 * ReLU. The norm is a child of the convolution, hence the keys `weight`, `norm.weight`, `norm.bias`.
 */
class ConvNorm extends Conv2d {
  readonly norm: GroupNorm;

  constructor(
    inChannels: number,
    outChannels: number,
    kernelSize: number,
    readonly relu: boolean,
    config: PixelDecoderConfig,
    rng: Rng,
  ) {
    super(inChannels, outChannels, kernelSize, { rng, padding: (kernelSize - 1) / 2, bias: false });
    this.norm = this.module("norm", new GroupNorm(config.normGroups, outChannels));
    c2XavierFill(this, rng);
  }

  override forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const y = this.norm.forward(super.forward(x));
      return this.relu ? tf.relu(y) : y;
    });
  }
}

/**
 * torch's F.interpolate(x, size, mode="nearest") on [B, h, w, C]. At whole-number factors (every map of an
 * input whose sides are multiples of 32) it repeats pixels by a broadcast, whose gradient is a plain sum; the
 * gather-based `resize` covers other sizes, with a far slower backward pass (UnsortedSegmentSum).
 */
export function upsampleNearest(x: tf.Tensor4D, [height, width]: [number, number]): tf.Tensor4D {
  const [b, h, w, c] = x.shape;
  if (height % h !== 0 || width % w !== 0) return resize(x, [height, width], { mode: "nearest" });
  return tf.tidy(() => {
    const repeats = tf.zeros([1, 1, height / h, 1, width / w, 1]);
    return x.reshape([b, h, 1, w, 1, c]).add(repeats).reshape([b, height, width, c]) as tf.Tensor4D;
  });
}

export interface PixelDecoderOutput {
  /** Per-pixel mask features at stride 4: [B, H/4, W/4, maskDim]. */
  maskFeatures: tf.Tensor4D;
  /**
   * The transformer decoder's input: res5 itself (MaskFormer's TRANSFORMER_IN_FEATURE = "res5";
   * BasePixelDecoder has no encoder). The caller's tensor, not a copy: dispose it once.
   */
  transformerInput: tf.Tensor4D;
}

export class PixelDecoder extends Module {
  /** Top-down order, res5 first: res5's 3×3 conv ("layer_4"), then the res4, res3, res2 merges. */
  private readonly outputConvs: ConvNorm[];
  /** 1×1 lateral convs of res4, res3, res2 ("adapter_3", "adapter_2", "adapter_1"). */
  private readonly lateralConvs: ConvNorm[];
  readonly maskFeatures: Conv2d;

  /** Weights initialised as MaskFormer's (c2_xavier_fill, GroupNorm 1/0) from `rng` (seed 0 by default). */
  constructor(
    readonly config: PixelDecoderConfig,
    options: { rng?: Rng } = {},
  ) {
    super();
    const rng = options.rng ?? new Rng(0);
    const { inChannels, convDim } = config;
    const lateral: ConvNorm[] = [];
    const output: ConvNorm[] = [];
    // Registered res2 → res5 as MaskFormer does, so the state dict lists keys in its order.
    for (let i = 0; i < 3; i++) {
      lateral.push(
        this.module(`adapter_${i + 1}`, new ConvNorm(inChannels[i], convDim, 1, false, config, rng)),
      );
      output.push(this.module(`layer_${i + 1}`, new ConvNorm(convDim, convDim, 3, true, config, rng)));
    }
    output.push(this.module("layer_4", new ConvNorm(inChannels[3], convDim, 3, true, config, rng)));
    this.lateralConvs = lateral.reverse();
    this.outputConvs = output.reverse();
    this.maskFeatures = this.module(
      "mask_features",
      new Conv2d(convDim, config.maskDim, 3, { rng, padding: 1 }),
    );
    c2XavierFill(this.maskFeatures, rng);
  }

  /** Backbone maps → mask features [B, H/4, W/4, maskDim] (and res5 for the transformer decoder). */
  forward(features: MultiScaleFeatures): PixelDecoderOutput {
    this.checkFeatures(features);
    const maskFeatures = tf.tidy(() => {
      let y = this.outputConvs[0].forward(features.res5); // [B, H/32, W/32, convDim]
      const topDown = [features.res4, features.res3, features.res2];
      topDown.forEach((x, i) => {
        const lateral = this.lateralConvs[i].forward(x); // [B, h, w, convDim]
        // FPN's nearest upsampling to the finer map's size (MaskFormer: F.interpolate(mode="nearest"))
        const upsampled = upsampleNearest(y, [lateral.shape[1], lateral.shape[2]]);
        y = this.outputConvs[i + 1].forward(lateral.add(upsampled));
      });
      return this.maskFeatures.forward(y); // [B, H/4, W/4, maskDim]
    });
    return { maskFeatures, transformerInput: features.res5 };
  }

  private checkFeatures(features: MultiScaleFeatures): void {
    const batch = features.res2.shape[0];
    FEATURES.forEach((name, i) => {
      const x = features[name];
      const channels = this.config.inChannels[i];
      if (x.rank !== 4 || x.shape[3] !== channels || x.shape[0] !== batch)
        throw new RangeError(
          `PixelDecoder: expected ${name} [${batch}, h, w, ${channels}] but received [${x.shape}]`,
        );
    });
  }
}
