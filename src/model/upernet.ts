/**
 * S-Seg+'s segmenter: UperNet on a ViT, as mmsegmentation's `upernet_mae` configuration (Apache-2.0; re-expressed,
 * `mmseg/models/{backbones/mae.py, necks/featurepyramid.py, decode_heads/uper_head.py, psp_head.py, fcn_head.py}`).
 * ViT tokens after four blocks → Feature2Pyramid neck (×4, ×2, ×1, ×0.5: strides 4–32) → UPerHead (pyramid
 * pooling on the coarsest map, FPN fusion of all four) → per-pixel class logits at stride 4; an auxiliary FCN head
 * on one level adds a second loss in training. A closed vocabulary: the classes it was self-trained on.
 * Parameter names are mmseg's EncoderDecoder's (`decode_head.lateral_convs.0.conv.weight`, …) with the backbone
 * under timm's/MAE's names (`backbone.blocks.3.attn.qkv.weight`), so MAE's released weights load by name.
 */
import * as tf from "@tensorflow/tfjs";
import { init, Rng } from "../engine/rng.js";
import { CheckpointError } from "../io/checkpoint-error.js";
import { gelu } from "../nn/activations.js";
import { BatchNorm } from "../nn/batch-norm.js";
import { ConvTranspose2d } from "../nn/conv-transpose.js";
import { Conv2d } from "../nn/conv2d.js";
import { Dropout2d } from "../nn/dropout.js";
import { Module, ModuleList } from "../nn/module.js";
import { adaptiveAvgPool2d } from "../nn/pooling.js";
import { resize } from "../nn/resize.js";
import { loadWeights, toDinoVitStateDict } from "../weights/index.js";
import { missingConfigFields } from "./config-fields.js";
import { type ModelFiles, readStoredModel, readTensorFile, type StoredModel } from "./files.js";
import {
  isMobileNetBackbone,
  MobileNetBackbone,
  type MobileNetBackboneConfig,
} from "./mobilenet-backbone.js";
import { VisionTransformer, type ViTConfig, vit_base_patch16 } from "./vit.js";

export type ViTBackboneConfig = ViTConfig & {
  /** Blocks whose tokens feed the neck (mmseg `out_indices`), ascending. */
  outIndices: readonly [number, number, number, number];
};

export interface UperNetConfig {
  /** Tells a stored S-Seg+ configuration from an S-Seg one. */
  architecture: "upernet";
  name: string;
  /** Side of the square training crops. */
  imageSize: number;
  /** The paper's ViT, or (a 2-core variant) the pretrained MobileNetV2 S-Seg's `tiny` uses. */
  backbone: ViTBackboneConfig | MobileNetBackboneConfig;
  /** A ViT's Feature2Pyramid factors per level: [4, 2, 1, 0.5] for patch 16, [2, 1, 0.5, 0.25] for patch 8. */
  neckRescales?: readonly [number, number, number, number];
  head: { channels: number; poolScales: readonly number[]; dropout: number };
  auxiliary: { channels: number; level: number; dropout: number; weight: number };
  /** How the segmenter runs it (mmseg's test_cfg): the short side resized to `shortSide`, whole or sliding windows. */
  inference: { shortSide: number; mode: "whole" | "slide"; crop: number; stride: number };
  training: {
    lr: number;
    /** mmseg's LayerDecayOptimizerConstructor: block i trains at decay^(depth − i), the heads at 1. */
    layerDecay: number;
    warmupSteps: number;
    weightDecay: number;
  };
}

/** mmseg `upernet_mae-base_fp16_8x2_512x512_160k_ade20k`: MAE ViT-B/16, 768-channel UPerHead. */
export const upernetPaper: UperNetConfig & { backbone: ViTBackboneConfig } = {
  architecture: "upernet",
  name: "paper",
  imageSize: 512,
  backbone: { ...vit_base_patch16, layerScale: 1.0, dropPathRate: 0.1, outIndices: [3, 5, 7, 11] },
  neckRescales: [4, 2, 1, 0.5],
  head: { channels: 768, poolScales: [1, 2, 3, 6], dropout: 0.1 },
  auxiliary: { channels: 256, level: 2, dropout: 0.1, weight: 0.4 },
  inference: { shortSide: 512, mode: "slide", crop: 512, stride: 341 },
  training: { lr: 1e-4, layerDecay: 0.65, warmupSteps: 1500, weightDecay: 0.05 },
};

/** The 2-core size: a 6-block ViT-Ti/8 at 128², strides 4–32 from [2, 1, 0.5, 0.25], 128-channel head. */
export const upernetTiny: UperNetConfig & { backbone: ViTBackboneConfig } = {
  architecture: "upernet",
  name: "tiny",
  imageSize: 128,
  backbone: {
    ...vit_base_patch16,
    patchSize: 8,
    embedDim: 192,
    depth: 6,
    heads: 3,
    imgSize: 128,
    layerScale: 1.0,
    dropPathRate: 0.1,
    outIndices: [1, 2, 3, 5],
  },
  neckRescales: [2, 1, 0.5, 0.25],
  head: { channels: 128, poolScales: [1, 2, 3, 6], dropout: 0.1 },
  auxiliary: { channels: 64, level: 2, dropout: 0.1, weight: 0.4 },
  inference: { shortSide: 128, mode: "whole", crop: 128, stride: 85 },
  training: { lr: 5e-4, layerDecay: 0.65, warmupSteps: 100, weightDecay: 0.05 },
};

/**
 * `tiny` with S-Seg's pretrained MobileNetV2 in place of the from-scratch ViT: the one ImageNet-initialised network
 * available here (frozen BatchNorm, fine-tuned at 0.1× the learning rate, as in S-Seg's `tiny`).
 */
export const upernetTinyMobileNet: UperNetConfig = {
  ...upernetTiny,
  name: "tiny-mobilenet",
  backbone: { kind: "mobilenet_v2", pretrained: true, lrScale: 0.1 },
  neckRescales: undefined,
  training: { lr: 3e-4, layerDecay: 1, warmupSteps: 50, weightDecay: 0.05 },
};

export const UPERNET_CONFIGS: Record<string, UperNetConfig> = {
  paper: upernetPaper,
  tiny: upernetTiny,
  "tiny-mobilenet": upernetTinyMobileNet,
};

/** Backbone keys a pretrained ViT need not bring: layer scale (MAE has none) and the final norm (levels skip it). */
const OPTIONAL_BACKBONE_KEY = /^(blocks\.\d+\.gamma_[12]|norm\.(weight|bias))$/;

/**
 * Load a pretrained ViT (MAE's `mae_pretrain_vit_base.pth`, DINO's, timm's or Hugging Face's; .pth through the
 * safe reader, or .safetensors) into the backbone; a missing or mis-shaped key is an error naming it.
 */
export async function loadPretrainedBackbone(backbone: VisionTransformer, path: string): Promise<void> {
  const state = toDinoVitStateDict(await loadWeights(path));
  const missing = [...backbone.stateDict().keys()].filter(
    (key) => !state.has(key) && !OPTIONAL_BACKBONE_KEY.test(key),
  );
  if (missing.length > 0)
    throw new CheckpointError(
      `${path}: not this backbone's weights: lacks ${missing.slice(0, 6).join(", ")}${missing.length > 6 ? ` and ${missing.length - 6} more` : ""}`,
    );
  try {
    backbone.loadStateDict(state, { strict: false });
  } catch (err) {
    throw new CheckpointError(`${path}: ${(err as Error).message}`);
  }
}

/** A trained S-Seg+ model's stored configuration: the architecture and the classes of its labels, background first. */
export interface SelfTrainedConfig extends UperNetConfig {
  classes: string[];
}

/** Whether a stored configuration is S-Seg+'s (else it is S-Seg's). */
export function isSelfTrainedConfig(value: unknown): value is SelfTrainedConfig {
  const config = value as Partial<SelfTrainedConfig> | null;
  return typeof config === "object" && config !== null && config.architecture === "upernet";
}

const UPERNET_SECTIONS = ["backbone", "head", "auxiliary", "inference", "training"] as const;

/** A configuration written as JSON, checked for what every S-Seg+ model needs (`where` names the file). */
export function checkUperNetConfig(value: unknown, where: string): UperNetConfig {
  if (!isSelfTrainedConfig(value))
    throw new CheckpointError(`${where}: not an S-Seg+ configuration (expected "architecture": "upernet")`);
  const missing = missingConfigFields(value as unknown as Record<string, unknown>, UPERNET_SECTIONS);
  if (missing.length > 0)
    throw new CheckpointError(`${where}: the S-Seg+ configuration lacks ${missing.join(", ")}`);
  return value;
}

/** An S-Seg+ model from a run, checkpoint folder or .safetensors file with its configuration. */
export async function loadSelfTrained(
  source: string | StoredModel,
): Promise<{ model: UperNet; config: SelfTrainedConfig; files: ModelFiles }> {
  const { files, config } = typeof source === "string" ? await readStoredModel(source) : source;
  if (!isSelfTrainedConfig(config) || !Array.isArray(config.classes) || config.classes.length < 2)
    throw new CheckpointError(
      `${files.configFile}: not an S-Seg+ configuration (architecture "upernet" and classes)`,
    );
  const weights = await readTensorFile(files.weights);
  const model = new UperNet(config, config.classes.length);
  try {
    model.loadStateDict(weights);
  } catch (err) {
    model.dispose();
    throw new CheckpointError(
      `${files.weights}: does not fit the S-Seg+ configuration "${config.name}" in ${files.configFile}: ${(err as Error).message}`,
    );
  }
  return { model: model.eval(), config, files };
}

/** mmcv's ConvModule with a norm: convolution without bias, BatchNorm, ReLU (keys `conv.*`, `bn.*`). */
class ConvModule extends Module {
  readonly conv: Conv2d;
  readonly bn: BatchNorm;

  constructor(inChannels: number, outChannels: number, kernelSize: number, rng: Rng) {
    super();
    const padding = (kernelSize - 1) / 2;
    this.conv = this.module(
      "conv",
      new Conv2d(inChannels, outChannels, kernelSize, { rng, padding, bias: false }),
    );
    this.bn = this.module("bn", new BatchNorm(outChannels));
    // mmcv's kaiming_init for a ReLU conv: normal, std √(2 / fan_out)
    const fanOut = outChannels * kernelSize * kernelSize;
    tf.tidy(() =>
      this.conv.weight.assign(
        tf.tensor(init.normal(rng, this.conv.weight.size, Math.sqrt(2 / fanOut)), this.conv.weight.shape),
      ),
    );
  }

  /** One map, or several taken as their channel concatenation (without building it: see Conv2d.forwardConcat). */
  forward(x: tf.Tensor4D | tf.Tensor4D[]): tf.Tensor4D {
    return tf.tidy(() => {
      const convolved = Array.isArray(x) ? this.conv.forwardConcat(x) : this.conv.forward(x);
      return tf.relu(this.bn.forward(convolved)) as tf.Tensor4D;
    });
  }
}

/** mmseg's BaseDecodeHead: a head ends in channel dropout and a 1×1 convolution to class logits (`conv_seg`). */
abstract class DecodeHead extends Module {
  readonly dropout: Dropout2d;
  readonly convSeg: Conv2d;

  constructor(channels: number, classes: number, dropout: number, rng: Rng) {
    super();
    this.dropout = this.module("dropout", new Dropout2d(dropout, rng.fork()));
    this.convSeg = this.module("conv_seg", new Conv2d(channels, classes, 1, { rng }));
    const { weight, bias } = this.convSeg;
    tf.tidy(() => {
      weight.assign(tf.tensor(init.normal(rng, weight.size, 0.01), weight.shape));
      bias?.assign(tf.zerosLike(bias));
    });
  }

  protected classify(x: tf.Tensor4D): tf.Tensor4D {
    return this.convSeg.forward(this.dropout.forward(x));
  }
}

/** mmseg's nn.Sequential(deconv, BatchNorm, GELU, deconv): keys 0, 1 and 3 (the GELU is index 2). */
class Upsample4x extends Module {
  readonly first: ConvTranspose2d;
  readonly norm: BatchNorm;
  readonly second: ConvTranspose2d;

  constructor(channels: number, rng: Rng) {
    super();
    this.first = this.module("0", new ConvTranspose2d(channels, channels, 2, { rng, stride: 2 }));
    this.norm = this.module("1", new BatchNorm(channels));
    this.second = this.module("3", new ConvTranspose2d(channels, channels, 2, { rng, stride: 2 }));
  }

  forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => this.second.forward(gelu(this.norm.forward(this.first.forward(x))) as tf.Tensor4D));
  }
}

/** The ViT's one-stride tokens as four maps of strides 4–32: transposed convolutions up, max-pooling down. */
class Feature2Pyramid extends Module {
  private readonly ops: ((x: tf.Tensor4D) => tf.Tensor4D)[];

  constructor(channels: number, rescales: readonly number[], rng: Rng) {
    super();
    const known = ["4,2,1,0.5", "2,1,0.5,0.25"];
    if (!known.includes(rescales.join(",")))
      throw new RangeError(`Feature2Pyramid: rescales must be [${known.join("] or [")}], got [${rescales}]`);
    this.ops = rescales.map((factor): ((x: tf.Tensor4D) => tf.Tensor4D) => {
      if (factor === 4) {
        const up = this.module("upsample_4x", new Upsample4x(channels, rng));
        return (x) => up.forward(x);
      }
      if (factor === 2) {
        const up = this.module(
          "upsample_2x",
          new ModuleList([new ConvTranspose2d(channels, channels, 2, { rng, stride: 2 })]),
        );
        return (x) => up.items[0].forward(x);
      }
      if (factor === 1) return (x) => x;
      const k = Math.round(1 / factor);
      return (x) => maxPoolBlocks(x, k);
    });
  }

  forward(levels: tf.Tensor4D[]): tf.Tensor4D[] {
    return tf.tidy(() => levels.map((level, i) => this.ops[i](level)));
  }
}

/**
 * torch's MaxPool2d(k, k): as a max over reshaped k×k blocks when they tile the map (tfjs-cpu's MaxPoolGrad is
 * ~100× slower than the max's gradient), else tf.maxPool (which floors the size as torch does).
 */
function maxPoolBlocks(x: tf.Tensor4D, k: number): tf.Tensor4D {
  const [b, h, w, c] = x.shape;
  if (h % k !== 0 || w % k !== 0) return tf.maxPool(x, k, k, "valid");
  return tf.tidy(() => x.reshape([b, h / k, k, w / k, k, c]).max([2, 4]) as tf.Tensor4D);
}

/** One PSP stage, mmseg's nn.Sequential(AdaptiveAvgPool2d(s), ConvModule): the convolution is key 1. */
class PoolingStage extends Module {
  readonly conv: ConvModule;

  constructor(
    readonly scale: number,
    inChannels: number,
    channels: number,
    rng: Rng,
  ) {
    super();
    this.conv = this.module("1", new ConvModule(inChannels, channels, 1, rng));
  }

  /** x → pooled to scale², 1×1 ConvModule, bilinear back to x's size. */
  forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() =>
      resize(this.conv.forward(adaptiveAvgPool2d(x, this.scale)), [x.shape[1], x.shape[2]]),
    );
  }
}

/** Unified Perceptual Parsing's head (mmseg UPerHead): PPM on the coarsest level, top-down FPN, fused at stride 4. */
class UPerHead extends DecodeHead {
  readonly pspModules: ModuleList<PoolingStage>;
  readonly bottleneck: ConvModule;
  readonly lateralConvs: ModuleList<ConvModule>;
  readonly fpnConvs: ModuleList<ConvModule>;
  readonly fpnBottleneck: ConvModule;

  /** `inChannels`: each level's channels, finest first (mmseg's `in_channels` list). */
  constructor(inChannels: readonly number[], config: UperNetConfig["head"], classes: number, rng: Rng) {
    super(config.channels, classes, config.dropout, rng);
    const c = config.channels;
    const levels = inChannels.length;
    const coarsest = inChannels[levels - 1];
    const stages = config.poolScales.map((scale) => new PoolingStage(scale, coarsest, c, rng));
    this.pspModules = this.module("psp_modules", new ModuleList(stages));
    this.bottleneck = this.module("bottleneck", new ConvModule(coarsest + stages.length * c, c, 3, rng));
    const finer = inChannels.slice(0, -1);
    this.lateralConvs = this.module(
      "lateral_convs",
      new ModuleList(finer.map((channels) => new ConvModule(channels, c, 1, rng))),
    );
    this.fpnConvs = this.module("fpn_convs", new ModuleList(finer.map(() => new ConvModule(c, c, 3, rng))));
    this.fpnBottleneck = this.module("fpn_bottleneck", new ConvModule(levels * c, c, 3, rng));
  }

  /** levels: finest first, all with inChannels → logits [B, h0, w0, classes] at the finest level's size. */
  forward(levels: tf.Tensor4D[]): tf.Tensor4D {
    return tf.tidy(() => {
      const coarsest = levels[levels.length - 1];
      const pooled = [coarsest, ...this.pspModules.items.map((stage) => stage.forward(coarsest))];
      const laterals = [
        ...this.lateralConvs.items.map((conv, i) => conv.forward(levels[i])),
        this.bottleneck.forward(pooled),
      ];
      const sizeOf = (x: tf.Tensor4D): [number, number] => [x.shape[1], x.shape[2]];
      for (let i = laterals.length - 1; i > 0; i--)
        laterals[i - 1] = laterals[i - 1].add(resize(laterals[i], sizeOf(laterals[i - 1])));
      const outputs = [
        ...this.fpnConvs.items.map((conv, i) => conv.forward(laterals[i])),
        laterals[laterals.length - 1],
      ];
      const finest = sizeOf(outputs[0]);
      const upsampled = outputs.map((x, i) => (i === 0 ? x : resize(x, finest)));
      return this.classify(this.fpnBottleneck.forward(upsampled));
    });
  }
}

/** mmseg's FCNHead with one 3×3 ConvModule and no input concatenation: the auxiliary classifier. */
class FCNHead extends DecodeHead {
  readonly convs: ModuleList<ConvModule>;

  constructor(inChannels: number, config: UperNetConfig["auxiliary"], classes: number, rng: Rng) {
    super(config.channels, classes, config.dropout, rng);
    this.convs = this.module("convs", new ModuleList([new ConvModule(inChannels, config.channels, 3, rng)]));
  }

  forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => this.classify(this.convs.items[0].forward(x)));
  }
}

export interface UperNetOutput {
  /** Class logits at stride 4: [B, H/4, W/4, classes]. */
  logits: tf.Tensor4D;
  /** The auxiliary head's logits at its level's stride (training only). */
  auxLogits?: tf.Tensor4D;
}

export class UperNet extends Module {
  readonly backbone: VisionTransformer | MobileNetBackbone;
  /** The ViT's Feature2Pyramid (a MobileNetV2 gives strides 4–32 itself). */
  readonly neck: Feature2Pyramid | null = null;
  readonly decodeHead: UPerHead;
  readonly auxiliaryHead: FCNHead;

  constructor(
    readonly config: UperNetConfig,
    readonly classes: number,
    options: { seed?: number } = {},
  ) {
    super();
    if (!Number.isInteger(classes) || classes < 1)
      throw new RangeError(`UperNet: classes must be a positive integer, got ${classes}`);
    const rng = new Rng(options.seed ?? 0);
    let channels: number[];
    if (isMobileNetBackbone(config.backbone)) {
      const backbone = new MobileNetBackbone(config.backbone, { rng: rng.fork() });
      this.backbone = this.module("backbone", backbone);
      channels = Object.values(backbone.outputShape()).map((level) => level.channels);
    } else {
      const { outIndices, ...vit } = config.backbone;
      this.backbone = this.module("backbone", new VisionTransformer(vit, { rng: rng.fork() }));
      this.neck = this.module("neck", new Feature2Pyramid(vit.embedDim, config.neckRescales ?? [], rng));
      channels = outIndices.map(() => vit.embedDim);
    }
    this.decodeHead = this.module("decode_head", new UPerHead(channels, config.head, classes, rng));
    const auxChannels = channels[config.auxiliary.level];
    this.auxiliaryHead = this.module(
      "auxiliary_head",
      new FCNHead(auxChannels, config.auxiliary, classes, rng),
    );
  }

  /** The four feature levels, finest first. */
  private levels(images: tf.Tensor4D): tf.Tensor4D[] {
    if (this.backbone instanceof MobileNetBackbone) return Object.values(this.backbone.forward(images));
    const { outIndices } = this.config.backbone as ViTBackboneConfig;
    return (this.neck as Feature2Pyramid).forward(this.backbone.forwardLevels(images, outIndices));
  }

  /** Normalised images [B, H, W, 3] (H, W multiples of 32 and of the patch) → logits (+ auxiliary in training). */
  forward(images: tf.Tensor4D): UperNetOutput {
    return tf.tidy(() => {
      const levels = this.levels(images);
      const logits = this.decodeHead.forward(levels);
      if (!this.training) return { logits };
      return { logits, auxLogits: this.auxiliaryHead.forward(levels[this.config.auxiliary.level]) };
    });
  }
}
