/**
 * nsfwjs's ImageNet-initialised MobileNetV2 as the MaskFormer backbone (naming issue #22): the only pretrained
 * image network this project can get, which doubles what a small model recognises in the same CPU time
 * (`../shared/research/naming-prototype.md`). The ends of its stride-4, 8 and 16 stages and its 1280-channel head
 * feed the FPN as res2…res5; its BatchNorms are frozen (constants from the stored statistics) and the trainer
 * fine-tunes it at `lrScale` × the learning rate. Swin stays the `paper` backbone.
 */
import * as tf from "@tensorflow/tfjs";
import { IMAGE_MEAN, IMAGE_STD } from "../data/preprocess.js";
import type { Rng } from "../engine/rng.js";
import { Module } from "../nn/module.js";
import { MobileNetV2 } from "./mobilenet-v2.js";
import type { SwinFeatures, SwinOutputName } from "./swin.js";

export interface MobileNetBackboneConfig {
  kind: "mobilenet_v2";
  /** Start training from nsfwjs's weights (the file PRETRAINED_MOBILENET_FILE names) rather than at random. */
  pretrained: boolean;
  /** The trunk's learning rate as a fraction of the model's; 0 freezes it (no gradient flows into it at all). */
  lrScale: number;
}

export function isMobileNetBackbone(config: object): config is MobileNetBackboneConfig {
  return "kind" in config && config.kind === "mobilenet_v2";
}

const OUTPUT_STRIDES = { res2: 4, res3: 8, res4: 16, res5: 32 } as const;

export class MobileNetBackbone extends Module {
  readonly trunk: MobileNetV2;
  /** ImageNet-normalised → RGB / 255, per channel: the model's input convention → the trunk's. */
  private readonly toUnitRgb: { scale: tf.Tensor1D; shift: tf.Tensor1D };

  constructor(
    readonly config: MobileNetBackboneConfig,
    options: { rng?: Rng } = {},
  ) {
    super();
    this.trunk = this.module("trunk", new MobileNetV2({ rng: options.rng, frozenNorm: true }));
    this.toUnitRgb = {
      scale: tf.tensor1d(IMAGE_STD.map((std) => std / 255)),
      shift: tf.tensor1d(IMAGE_MEAN.map((mean) => mean / 255)),
    };
  }

  /** Channels and stride of each output, as SwinTransformer.outputShape(). */
  outputShape(): Record<SwinOutputName, { channels: number; stride: number }> {
    const shape = (stride: 4 | 8 | 16 | 32) => ({ channels: this.trunk.outputChannels(stride), stride });
    return {
      res2: shape(OUTPUT_STRIDES.res2),
      res3: shape(OUTPUT_STRIDES.res3),
      res4: shape(OUTPUT_STRIDES.res4),
      res5: shape(OUTPUT_STRIDES.res5),
    };
  }

  /** ImageNet-normalised images [B, H, W, 3] → res2…res5, each [B, ⌊H/stride⌋, ⌊W/stride⌋, channels]. */
  forward(images: tf.Tensor4D): SwinFeatures {
    return tf.tidy(() => {
      const pixels = images.mul(this.toUnitRgb.scale).add(this.toUnitRgb.shift) as tf.Tensor4D;
      const [res2, res3, res4, res5] = this.trunk.stageOutputs(pixels, Object.values(OUTPUT_STRIDES));
      return { res2, res3, res4, res5 };
    });
  }

  override dispose(): void {
    tf.dispose([this.toUnitRgb.scale, this.toUnitRgb.shift]);
    super.dispose();
  }
}
