/**
 * The S-Seg model (method spec §3, §6): a MaskFormer without a class head — Swin backbone, FPN pixel decoder,
 * DETR transformer decoder predicting N masks and N semantic embeddings — plus a from-scratch text transformer,
 * an image and a text projector into one contrastive space, and the learnable logit scale. This file only wires
 * the components (each in its own file); the configurations are data in `presets.ts`.
 */
import * as tf from "@tensorflow/tfjs";
import { Rng } from "../engine/rng.js";
import { CheckpointError } from "../io/checkpoint-error.js";
import { Module } from "../nn/module.js";
import { l2Normalize } from "../nn/normalize.js";
import { missingConfigFields } from "./config-fields.js";
import {
  isMobileNetBackbone,
  MobileNetBackbone,
  type MobileNetBackboneConfig,
} from "./mobilenet-backbone.js";
import { PixelDecoder, type PixelDecoderConfig } from "./pixel-decoder.js";
import { LogitScale, Projector, type ProjectorConfig } from "./projector.js";
import { RegionHead, type RegionHeadConfig } from "./region-head.js";
import { type SwinConfig, SwinTransformer } from "./swin.js";
import { TextTransformer, type TextTransformerConfig } from "./text-transformer.js";
import { TransformerPredictor, type TransformerPredictorConfig } from "./transformer-decoder.js";

export interface SSegConfig {
  name: string;
  /** Side of the square training crop. */
  imageSize: number;
  /** Swin (the paper's), or the pretrained MobileNetV2 of the naming recipe. */
  backbone: SwinConfig | MobileNetBackboneConfig;
  pixelDecoder: Omit<PixelDecoderConfig, "inChannels">;
  decoder: Omit<TransformerPredictorConfig, "inChannels" | "maskDim" | "embedDim">;
  text: TextTransformerConfig;
  /** Both projectors: query/text width → hidden → the shared embedding width. */
  projector: Omit<ProjectorConfig, "inDim">;
  /** The naming recipe's local region embeddings and no-object class (absent: S-Seg's query embeddings). */
  regions?: RegionHeadConfig;
  /** How the segmenter runs this model unless told otherwise; a checkpoint stores its tuned values here. */
  inference?: InferenceConfig;
  /** The training settings this model was chosen with, used where `sseg train` is not told otherwise. */
  training?: TrainingDefaults;
}

export interface TrainingDefaults {
  /** Peak learning rate of the cosine schedule. */
  lr?: number;
  warmupSteps?: number;
}

/** Class-name prompts: a preset's name, or templates with "{}" for the name (embeddings averaged over them). */
export type Templates = "simple" | "groupvit" | readonly string[];

/**
 * Which pixels are background: those whose best class score stays below a threshold (GroupViT's rule), those
 * won by background words scored like classes, those won by the model's learned no-object class (a model with a
 * region head), or none (`false`: every pixel takes a class).
 */
export type BackgroundRule =
  | { threshold: number }
  | { classes: readonly string[] }
  | { noObject: true }
  | false;

export interface InferenceConfig {
  /** The image's short side is resized to this (mmseg's keep-ratio rule). */
  shortSide: number;
  /** One forward pass on the whole image, or sliding `crop`² windows every `stride` pixels. */
  mode: "whole" | "slide";
  crop: number;
  stride: number;
  templates?: Templates;
  background?: BackgroundRule;
  /**
   * How a pixel's class scores come from the queries: "mix" (S-Seg's: every query's class probabilities weighted by
   * its mask probability there) or "winner" (those of the query whose mask is most confident there, MaskFormer's
   * panoptic-style assignment).
   */
  masks?: MasksRule;
  /** Also segment the mirrored image and average the two's scores (mmseg's flip test): twice the work. */
  flip?: boolean;
  /**
   * Refine the score maps by the image's colours before the background rule (PAMR, TCL's test-time step; 10
   * iterations at dilations 1–24, `src/infer/pamr.ts`): edges follow the image instead of the stride-4 masks.
   */
  refine?: boolean;
}

export type MasksRule = "mix" | "winner";

const CONFIG_SECTIONS = ["backbone", "pixelDecoder", "decoder", "text", "projector"] as const;

/** A stored configuration checked for the fields every model needs (`where` names the file in the error). */
export function checkConfig(value: unknown, where: string): SSegConfig {
  const config = value as Partial<SSegConfig> | undefined;
  if (typeof config !== "object" || config === null || Array.isArray(config))
    throw new CheckpointError(`${where}: no model configuration in it`);
  const missing = missingConfigFields(config, CONFIG_SECTIONS);
  if (missing.length > 0)
    throw new CheckpointError(`${where}: the model configuration lacks ${missing.join(", ")}`);
  return config as SSegConfig;
}

/** What the image side produces for one batch. */
export interface ImageOutputs {
  /** Mask logits of every decoder layer, first layer first, each [B, Q, S/4, S/4]. */
  layerMasks: tf.Tensor4D[];
  /** The last layer's semantic embedding of each query: [B, Q, D]. */
  queryEmbeddings: tf.Tensor3D;
  /** With a region head: each query's region embedding, L2-normalised [B, Q, E]. */
  regionEmbeddings?: tf.Tensor3D;
}

export class SSegModel extends Module {
  readonly backbone: SwinTransformer | MobileNetBackbone;
  readonly pixelDecoder: PixelDecoder;
  readonly predictor: TransformerPredictor;
  readonly textEncoder: TextTransformer;
  readonly imageProjector: Projector;
  readonly textProjector: Projector;
  readonly logitScale: LogitScale;
  readonly regionHead: RegionHead | null;

  constructor(
    readonly config: SSegConfig,
    options: { seed?: number } = {},
  ) {
    super();
    const rng = new Rng(options.seed ?? 0);
    this.backbone = this.module(
      "backbone",
      isMobileNetBackbone(config.backbone)
        ? new MobileNetBackbone(config.backbone, { rng })
        : new SwinTransformer(config.backbone, { rng }),
    );
    const channels = this.backbone.outputShape();
    this.pixelDecoder = this.module(
      "sem_seg_head.pixel_decoder",
      new PixelDecoder(
        {
          ...config.pixelDecoder,
          inChannels: [
            channels.res2.channels,
            channels.res3.channels,
            channels.res4.channels,
            channels.res5.channels,
          ],
        },
        { rng },
      ),
    );
    const embedDim = config.decoder.hiddenDim;
    this.predictor = this.module(
      "sem_seg_head.predictor",
      new TransformerPredictor(
        {
          ...config.decoder,
          inChannels: channels.res5.channels,
          maskDim: config.pixelDecoder.maskDim,
          embedDim,
        },
        { rng },
      ),
    );
    this.textEncoder = this.module("text_encoder", new TextTransformer(config.text, { rng }));
    this.imageProjector = this.module(
      "img_projector",
      new Projector({ inDim: embedDim, ...config.projector }, { rng }),
    );
    this.textProjector = this.module(
      "text_projector",
      new Projector({ inDim: config.text.width, ...config.projector }, { rng }),
    );
    this.logitScale = this.module("logit_scale", new LogitScale());
    this.regionHead = config.regions
      ? this.module(
          "region_head",
          new RegionHead(
            config.regions,
            {
              maskDim: config.pixelDecoder.maskDim,
              queryDim: embedDim,
              outDim: config.projector.outDim,
              backboneDim: config.regions.backboneLevel && channels[config.regions.backboneLevel].channels,
            },
            { rng },
          ),
        )
      : null;
  }

  /** Images [B, S, S, 3] (ImageNet-normalised) → every layer's mask logits and the queries' embeddings. */
  forwardImages(images: tf.Tensor4D, options: { auxiliary?: boolean } = {}): ImageOutputs {
    return tf.tidy(() => {
      const features = this.backbone.forward(images);
      const { maskFeatures } = this.pixelDecoder.forward(features);
      const out = this.predictor.forward(features.res5, maskFeatures, options);
      return {
        layerMasks: [...out.auxMasks, out.predMasks],
        queryEmbeddings: out.queryEmbeddings,
        regionEmbeddings: this.regionHead?.forward(
          maskFeatures,
          out.predMasks,
          out.queryEmbeddings,
          features,
        ),
      };
    });
  }

  /** The image embedding of training: the mean of the N query embeddings, projected and L2-normalised: [B, E]. */
  imageEmbedding(queryEmbeddings: tf.Tensor3D): tf.Tensor2D {
    return tf.tidy(() => l2Normalize(this.imageProjector.forward(queryEmbeddings.mean(1))) as tf.Tensor2D);
  }

  /** Each query's embedding projected and L2-normalised, as at test time (GroupViT's `encode_image` feat): [B, Q, E]. */
  queryEmbeddingsProjected(queryEmbeddings: tf.Tensor3D): tf.Tensor3D {
    return tf.tidy(() => l2Normalize(this.imageProjector.forward(queryEmbeddings)) as tf.Tensor3D);
  }

  /** Token ids [B, T] → caption embeddings, projected and L2-normalised: [B, E]. */
  textEmbedding(tokenIds: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => l2Normalize(this.textFeatures(tokenIds)));
  }

  /** Token ids [B, T] → projected caption features before normalisation (averaged over prompt templates): [B, E]. */
  textFeatures(tokenIds: tf.Tensor2D): tf.Tensor2D {
    return tf.tidy(() => this.textProjector.forward(this.textEncoder.encode(tokenIds)) as tf.Tensor2D);
  }
}
