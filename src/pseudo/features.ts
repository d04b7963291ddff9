/**
 * Feature sources for pseudo-masks, one interface: per-patch features of an image on a stride-8 grid.
 *   rgb            — mean RGB of each 8×8 cell plus its (x, y) position: the paper's raw-pixel baseline
 *   dino:<file>    — a frozen DINO ViT-S/8 (official .pth, timm/HF safetensors): last-layer patch tokens
 *   dino-keys:<file> — the same ViT's last-layer attention keys (as LOST / Deep Spectral Methods use)
 *   random-vit     — a randomly initialised ViT-S/8 (a control: what the architecture alone gives)
 *   mobilenet:<file> — nsfwjs's ImageNet-initialised MobileNetV2 (tools/convert-nsfwjs-mobilenet.mjs): the end
 *                    of its stride-8 stage with its stride-16 stage upsampled, each L2-normalised (32 + 96 values)
 */
import { existsSync } from "node:fs";
import * as tf from "@tensorflow/tfjs";
import { IMAGE_MEAN, IMAGE_STD } from "../data/preprocess.js";
import { Rng } from "../engine/rng.js";
import type { RgbImage } from "../io/pixels.js";
import { PRETRAINED_MOBILENET_FILE } from "../model/files.js";
import { MobileNetV2 } from "../model/mobilenet-v2.js";
import { VisionTransformer, vit_small_patch8 } from "../model/vit.js";
import { StateDictError } from "../nn/module.js";
import { l2Normalize } from "../nn/normalize.js";
import { resize } from "../nn/resize.js";
import { loadWeights, toDinoVitStateDict } from "../weights/index.js";

/** Features of one image: (gridH · gridW) rows of `dim` values, row-major over the grid. */
export interface PatchFeatures {
  features: Float32Array;
  gridH: number;
  gridW: number;
  dim: number;
}

export interface FeatureSource {
  readonly name: string;
  /** Pixels per grid cell along each axis. */
  readonly stride: number;
  /** Cluster by cosine similarity (L2-normalised rows), as is usual for ViT features; RGB uses plain distance. */
  readonly cosine: boolean;
  /** The image's height and width must be multiples of `stride`. */
  extract(image: RgbImage): PatchFeatures;
  dispose(): void;
}

/** Weight of the (x, y) position against colour in the rgb source (0–1 scales for both). */
const RGB_POSITION_WEIGHT = 0.6;

export const FEATURE_SOURCES = [
  "auto",
  "rgb",
  "dino:<weights file>",
  "dino-keys:<weights file>",
  "random-vit",
  "mobilenet:<weights file>",
];

/**
 * Open a feature source by its spec string (see FEATURE_SOURCES). `auto` is the best source available here by
 * the oracle table (docs/pseudo-masks.md): `mobilenet` (its weights ship in pretrained/; `rgb` if they are missing).
 */
export async function openFeatureSource(
  spec: string,
  options: { seed?: number } = {},
): Promise<FeatureSource> {
  if (spec === "auto")
    return openFeatureSource(
      existsSync(PRETRAINED_MOBILENET_FILE) ? `mobilenet:${PRETRAINED_MOBILENET_FILE}` : "rgb",
      options,
    );
  if (spec === "rgb") return new RgbFeatures();
  if (spec === "random-vit") {
    return new VitFeatures(
      "random-vit",
      new VisionTransformer(vit_small_patch8, { rng: new Rng(options.seed ?? 0) }),
      "tokens",
    );
  }
  const match = /^(dino|dino-keys):(.+)$/.exec(spec);
  if (match) {
    const vit = new VisionTransformer(vit_small_patch8);
    vit.loadStateDict(toDinoVitStateDict(await loadWeights(match[2])));
    return new VitFeatures(spec, vit, match[1] === "dino" ? "tokens" : "keys");
  }
  const mobilenet = /^mobilenet:(.+)$/.exec(spec);
  if (mobilenet) return new MobileNetFeatures(spec, await loadMobileNet(mobilenet[1]));
  throw new RangeError(
    `--features: unknown feature source "${spec}"; expected one of ${FEATURE_SOURCES.join(", ")}`,
  );
}

function checkStride(image: RgbImage, stride: number, name: string): void {
  if (image.width % stride !== 0 || image.height % stride !== 0 || image.width === 0 || image.height === 0)
    throw new RangeError(
      `${name}: image size ${image.width}×${image.height} is not a positive multiple of ${stride}`,
    );
}

class RgbFeatures implements FeatureSource {
  readonly name = "rgb";
  readonly stride = 8;
  readonly cosine = false;

  extract(image: RgbImage): PatchFeatures {
    checkStride(image, this.stride, this.name);
    const gridW = image.width / this.stride;
    const gridH = image.height / this.stride;
    const dim = 5;
    const features = new Float32Array(gridH * gridW * dim);
    const cell = this.stride * this.stride * 255;
    for (let y = 0; y < image.height; y++) {
      for (let x = 0; x < image.width; x++) {
        const p = (y * image.width + x) * 3;
        const f = (Math.floor(y / this.stride) * gridW + Math.floor(x / this.stride)) * dim;
        features[f] += image.data[p] / cell;
        features[f + 1] += image.data[p + 1] / cell;
        features[f + 2] += image.data[p + 2] / cell;
      }
    }
    for (let gy = 0; gy < gridH; gy++) {
      for (let gx = 0; gx < gridW; gx++) {
        const f = (gy * gridW + gx) * dim;
        features[f + 3] = (RGB_POSITION_WEIGHT * (gx + 0.5)) / gridW;
        features[f + 4] = (RGB_POSITION_WEIGHT * (gy + 0.5)) / gridH;
      }
    }
    return { features, gridH, gridW, dim };
  }

  dispose(): void {}
}

class VitFeatures implements FeatureSource {
  readonly stride: number;
  readonly cosine = true;

  constructor(
    readonly name: string,
    private readonly vit: VisionTransformer,
    private readonly which: "tokens" | "keys",
  ) {
    this.stride = vit.config.patchSize;
    vit.eval();
  }

  extract(image: RgbImage): PatchFeatures {
    checkStride(image, this.stride, this.name);
    const [gridH, gridW] = [image.height / this.stride, image.width / this.stride];
    const dim = this.vit.config.embedDim;
    const features = tf.tidy(() => {
      const x = tf
        .tensor4d(image.data, [1, image.height, image.width, 3], "int32")
        .cast("float32")
        .sub([...IMAGE_MEAN])
        .div([...IMAGE_STD]) as tf.Tensor4D;
      const out = this.vit.forward(x);
      const patches =
        this.which === "tokens" ? out.patchTokens : out.keys.slice([0, 1, 0], [1, gridH * gridW, dim]);
      return patches.dataSync() as Float32Array;
    });
    return { features, gridH, gridW, dim };
  }

  dispose(): void {
    this.vit.dispose();
  }
}

async function loadMobileNet(path: string): Promise<MobileNetV2> {
  const net = new MobileNetV2();
  try {
    net.loadStateDict(await loadWeights(path));
  } catch (err) {
    net.dispose();
    if (!(err instanceof StateDictError)) throw err;
    throw new StateDictError(
      `mobilenet:${path} is not a converted nsfwjs MobileNetV2 (make one with tools/convert-nsfwjs-mobilenet.mjs). ${err.message}`,
    );
  }
  return net;
}

class MobileNetFeatures implements FeatureSource {
  readonly stride = 8;
  readonly cosine = true;

  constructor(
    readonly name: string,
    private readonly net: MobileNetV2,
  ) {
    net.eval();
  }

  extract(image: RgbImage): PatchFeatures {
    checkStride(image, this.stride, this.name);
    const [gridH, gridW] = [image.height / this.stride, image.width / this.stride];
    const out = tf.tidy(() => {
      const x = tf
        .tensor4d(image.data, [1, image.height, image.width, 3], "int32")
        .cast("float32")
        .div(255) as tf.Tensor4D; // nsfwjs's preprocessing: RGB pixels / 255
      const [stride8, stride16] = this.net.stageOutputs(x, [8, 16]);
      // stride 8 alone (32 channels) gives salt-and-pepper clusters, oracle mIoU 33.8 vs 50.0 with the upsampled
      // stride-16 stage (composite val sample); each part is unit length so both weigh the same in cosine K-Means
      const upsampled = resize(stride16, [gridH, gridW], { mode: "bilinear" });
      return tf.concat([l2Normalize(stride8), l2Normalize(upsampled)], 3);
    });
    const features = out.dataSync() as Float32Array;
    const dim = out.shape[3];
    out.dispose();
    return { features, gridH, gridW, dim };
  }

  dispose(): void {
    this.net.dispose();
  }
}
