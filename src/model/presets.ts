/**
 * Every model configuration, every number written out: `paper` (the S-Seg paper's sizes), `tiny` (the naming
 * recipe that trains on 2 CPU cores, the default), its controls (`tiny-swin`, `tiny-mobilenet`, `tiny-regions`;
 * docs/naming.md) and `micro` (the tests' model, seconds per step). test/model/presets.test.ts checks `paper` against
 * the component presets the PyTorch fixtures were made with (swin_small, MaskFormer's head, GroupViT's text tower).
 */
import type { SSegConfig } from "./sseg.js";

/** The paper's sizes: Swin-S, 64 queries, 448², a 12 × 256 text transformer, 256→4096→256 projectors. */
export const paper: SSegConfig = {
  name: "paper",
  imageSize: 448,
  backbone: {
    patchSize: 4,
    inChannels: 3,
    embedDim: 96,
    depths: [2, 2, 18, 2],
    numHeads: [3, 6, 12, 24],
    windowSize: 7,
    mlpRatio: 4,
    qkvBias: true,
    dropPathRate: 0.3,
  },
  pixelDecoder: { convDim: 256, maskDim: 256, normGroups: 32 },
  decoder: {
    hiddenDim: 256,
    heads: 8,
    feedforwardDim: 2048,
    layers: 6,
    queries: 64,
    dropout: 0.1,
    enforceInputProjection: false,
  },
  text: { contextLength: 77, vocabSize: 49408, width: 256, layers: 12, heads: 4 },
  projector: { hiddenDim: 4096, outDim: 256 },
  // the S-Seg/GroupViT test protocol (method spec §8.5)
  inference: { shortSide: 448, mode: "slide", crop: 448, stride: 224 },
};

/**
 * The paper's model and objective at a size that trains on 2 CPU cores, from scratch (the naming control): Swin-nano
 * (32 channels, 2 blocks per stage) with 4-token windows, which tile the 32/16/8/4 grids of a 128² crop exactly
 * (no padding); a 64-wide FPN and a 128-wide, 3-layer decoder with 24 queries (3× the K = 8 pseudo-masks); a
 * 4-layer, 128-wide text transformer; 512-wide projectors. The composites are 256² with objects of 35–80 % of the
 * frame, so 128² crops keep them tens of pixels wide.
 */
export const tinySwin: SSegConfig = {
  name: "tiny-swin",
  imageSize: 128,
  backbone: {
    patchSize: 4,
    inChannels: 3,
    embedDim: 32,
    depths: [2, 2, 2, 2],
    numHeads: [1, 2, 4, 8],
    windowSize: 4,
    mlpRatio: 4,
    qkvBias: true,
    dropPathRate: 0.1,
  },
  pixelDecoder: { convDim: 64, maskDim: 64, normGroups: 16 },
  decoder: {
    hiddenDim: 128,
    heads: 4,
    feedforwardDim: 512,
    layers: 3,
    queries: 24,
    dropout: 0.1,
    enforceInputProjection: false,
  },
  text: { contextLength: 77, vocabSize: 49408, width: 128, layers: 4, heads: 2 },
  projector: { hiddenDim: 512, outDim: 128 },
  // its own training size; the composites' objects fill most of a 128² view, so one window sees them whole
  inference: { shortSide: 128, mode: "whole", crop: 128, stride: 64 },
};

/**
 * `tiny` on the naming recipe's backbone: nsfwjs's ImageNet-initialised MobileNetV2 (stride 4/8/16/32 stage ends,
 * 24/32/96/1280 channels; BatchNorm frozen) fine-tuned at 0.1× the learning rate, which doubles what the prototype
 * recognised in the same CPU time (`../shared/research/naming-prototype.md`).
 */
export const tinyMobileNet: SSegConfig = {
  ...tinySwin,
  name: "tiny-mobilenet",
  backbone: { kind: "mobilenet_v2", pretrained: true, lrScale: 0.1 },
};

/**
 * The naming recipe (naming issue #22) on `tiny-mobilenet`: each query named by a region embedding pooled from the
 * pixel features under its mask, trained with caption nouns against a learned no-object class, which is also the
 * background rule at inference (`../shared/research/naming-prototype.md`, its best row).
 */
export const tinyRegions: SSegConfig = {
  ...tinyMobileNet,
  name: "tiny-regions",
  regions: { hiddenDim: 128, withQuery: false },
  inference: { ...tinySwin.inference!, background: { noObject: true } },
};

/**
 * The default, the naming recipe docs/naming.md chose: `tiny-regions` with S-Seg's BatchNorm projector as the region
 * MLP (regions of different images apart from the first step), the term "every image holds some background" (keeps
 * the no-object class alive) and region embeddings that also pool the trunk's stride-16 features (a better
 * background), trained at a peak learning rate of 3e-4 (1e-3 packs the caption nouns' embeddings) with the pretrained
 * trunk frozen (names better, and 2,800 steps fit where 1,700 did); each pixel takes its most confident query's
 * names at inference, and the score maps are refined by the image's colours (PAMR, +2.0 with background).
 */
export const tiny: SSegConfig = {
  ...tinyRegions,
  name: "tiny",
  backbone: { kind: "mobilenet_v2", pretrained: true, lrScale: 0 },
  regions: { hiddenDim: 128, withQuery: false, batchNorm: true, backgroundWeight: 1, backboneLevel: "res4" },
  inference: { ...tinyRegions.inference!, masks: "winner", refine: true },
  training: { lr: 3e-4, warmupSteps: 50 },
};

/** The tests' model: `tiny` shrunk further (64², a 16-wide Swin, 6 queries), so tests train and infer in seconds. */
export const micro: SSegConfig = {
  name: "micro",
  imageSize: 64,
  backbone: {
    patchSize: 4,
    inChannels: 3,
    embedDim: 16,
    depths: [1, 1, 2, 1],
    numHeads: [1, 1, 2, 2],
    windowSize: 4,
    mlpRatio: 4,
    qkvBias: true,
    dropPathRate: 0.1,
  },
  pixelDecoder: { convDim: 16, maskDim: 16, normGroups: 4 },
  decoder: {
    hiddenDim: 32,
    heads: 2,
    feedforwardDim: 64,
    layers: 2,
    queries: 6,
    dropout: 0.1,
    enforceInputProjection: false,
  },
  text: { contextLength: 77, vocabSize: 49408, width: 32, layers: 1, heads: 1 },
  projector: { hiddenDim: 32, outDim: 16 },
  inference: { shortSide: 64, mode: "whole", crop: 64, stride: 32 },
};

/** The configurations users pick by name (`--config`, `--untrained`, `{ untrained }`). */
export const CONFIGS: Record<string, SSegConfig> = {
  paper,
  tiny,
  "tiny-swin": tinySwin,
  "tiny-mobilenet": tinyMobileNet,
  "tiny-regions": tinyRegions,
};
