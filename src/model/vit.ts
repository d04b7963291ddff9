/**
 * The DINO Vision Transformer, all of it in this one file: the frozen feature extractor behind the pseudo-masks.
 * Ported from facebookresearch/dino `vision_transformer.py` (Apache-2.0), itself "mostly copy-paste from timm".
 * Parameter names and layouts are DINO's (`cls_token`, `pos_embed`, `patch_embed.proj`, `blocks.{i}.…`, `norm`),
 * so DINO checkpoints (e.g. `dino_deitsmall8_pretrain.pth`) load by name with `loadStateDict`.
 * What changed: activations are channels-last (images [B, H, W, 3]), there is no classifier head (DINO's is an
 * identity), and `forward` returns every token plus the last block's attention keys instead of the CLS token.
 */
import * as tf from "@tensorflow/tfjs";
import { init, Rng } from "../engine/rng.js";
import { Attention } from "../nn/attention.js";
import { Conv2d } from "../nn/conv2d.js";
import { DropPath } from "../nn/dropout.js";
import { LayerNorm } from "../nn/layer-norm.js";
import type { Linear } from "../nn/linear.js";
import { Mlp } from "../nn/mlp.js";
import { Module, ModuleList } from "../nn/module.js";
import { resizeByScale } from "../nn/resize.js";

export interface ViTConfig {
  /** Side of the square patches; input height and width must be multiples of it. */
  patchSize: number;
  /** Token width D. */
  embedDim: number;
  depth: number;
  heads: number;
  /** MLP hidden width = mlpRatio · D. */
  mlpRatio: number;
  qkvBias: boolean;
  layerNormEps: number;
  /** The square training resolution the learned position embedding was made for; other sizes interpolate it. */
  imgSize: number;
  inChannels: number;
  /** Stochastic depth of the last block; block i gets rate · i / (depth − 1), as DINO's linspace. */
  dropPathRate: number;
  /**
   * BEiT's layer scale (mmseg's MAE backbone, `init_values`): learnable per-channel gains `gamma_1`, `gamma_2` on
   * each residual branch, starting at this value. Absent in DINO's ViT and in MAE's released weights.
   */
  layerScale?: number;
}

/** DINO's vit_small / vit_base: qkv bias, LayerNorm eps 1e-6, position embedding learned at 224². */
const dinoDefaults = {
  mlpRatio: 4,
  qkvBias: true,
  layerNormEps: 1e-6,
  imgSize: 224,
  inChannels: 3,
  dropPathRate: 0,
};
const small = { ...dinoDefaults, embedDim: 384, depth: 12, heads: 6 };
const base = { ...dinoDefaults, embedDim: 768, depth: 12, heads: 12 };

/** DINO ViT-S/8 (`dino_vits8`, 21.7M parameters): the S-Seg pseudo-mask feature extractor. */
export const vit_small_patch8: ViTConfig = { ...small, patchSize: 8 };
export const vit_small_patch16: ViTConfig = { ...small, patchSize: 16 };
export const vit_base_patch8: ViTConfig = { ...base, patchSize: 8 };
export const vit_base_patch16: ViTConfig = { ...base, patchSize: 16 };

/** DINO's `_init_weights` for a Linear: trunc_normal(std 0.02) weight, zero bias. */
function initLinear(linear: Linear, rng: Rng): void {
  tf.tidy(() => {
    linear.weight.assign(tf.tensor(init.truncNormal(rng, linear.weight.size, 0.02), linear.weight.shape));
    linear.bias?.assign(tf.zerosLike(linear.bias));
  });
}

/** Image to patch tokens: a patch×patch convolution with stride patch, under DINO's name `patch_embed.proj`. */
class PatchEmbed extends Module {
  readonly proj: Conv2d;

  constructor(config: ViTConfig, rng: Rng) {
    super();
    this.proj = this.module(
      "proj",
      new Conv2d(config.inChannels, config.embedDim, config.patchSize, { rng, stride: config.patchSize }),
    );
  }

  /** images (B, H, W, Cin) → (B, h·w, D) in row-major patch order, as torch's flatten(2).transpose(1, 2). */
  forward(images: tf.Tensor4D): tf.Tensor3D {
    const x = this.proj.forward(images); // (B, h, w, D)
    const [b, h, w, d] = x.shape;
    return x.reshape([b, h * w, d]) as tf.Tensor3D;
  }
}

/** Pre-norm transformer block: x + attn(norm1(x)), then x + mlp(norm2(x)). */
class Block extends Module {
  readonly norm1: LayerNorm;
  readonly attn: Attention;
  readonly norm2: LayerNorm;
  readonly mlp: Mlp;
  readonly gamma1: tf.Variable | null = null;
  readonly gamma2: tf.Variable | null = null;
  private readonly dropPath: DropPath;

  constructor(config: ViTConfig, dropPathRate: number, rng: Rng) {
    super();
    const d = config.embedDim;
    this.norm1 = this.module("norm1", new LayerNorm(d, config.layerNormEps));
    this.attn = this.module("attn", new Attention(d, config.heads, { rng, qkvBias: config.qkvBias }));
    this.norm2 = this.module("norm2", new LayerNorm(d, config.layerNormEps));
    this.mlp = this.module("mlp", new Mlp(d, Math.trunc(d * config.mlpRatio), d, { rng }));
    this.dropPath = this.module("drop_path", new DropPath(dropPathRate, rng.fork()));
    if (config.layerScale !== undefined) {
      this.gamma1 = this.param("gamma_1", [d], new Float32Array(d).fill(config.layerScale));
      this.gamma2 = this.param("gamma_2", [d], new Float32Array(d).fill(config.layerScale));
    }
    for (const linear of [this.attn.qkv, this.attn.proj, this.mlp.fc1, this.mlp.fc2]) initLinear(linear, rng);
  }

  /** x (B, N, D) → (B, N, D) */
  forward(x: tf.Tensor3D): tf.Tensor3D {
    const scaled = (y: tf.Tensor, gamma: tf.Variable | null) => (gamma ? y.mul(gamma) : y);
    return tf.tidy(() => {
      const attended = this.attn.forward(this.norm1.forward(x) as tf.Tensor3D);
      x = x.add(this.dropPath.forward(scaled(attended, this.gamma1)));
      return x.add(this.dropPath.forward(scaled(this.mlp.forward(this.norm2.forward(x)), this.gamma2)));
    });
  }

  /**
   * The attention keys this block computes for input x, heads concatenated: (B, N, D). They are rows D…2D of
   * the fused qkv projection (torch splits qkv as (3, heads, D/heads)), the features LOST and Deep Spectral
   * Methods cluster.
   */
  keys(x: tf.Tensor3D): tf.Tensor3D {
    return tf.tidy(() => {
      const [b, n, d] = x.shape;
      const { weight, bias } = this.attn.qkv;
      const keyWeight = tf.slice(weight, [d, 0], [d, d]); // (D, D)
      const keyBias = bias ? tf.slice(bias, [d], [d]) : undefined;
      const normed = this.norm1.forward(x).reshape([b * n, d]); // (B·N, D)
      return tf.fused.matMul({ a: normed, b: keyWeight, transposeB: true, bias: keyBias }).reshape([b, n, d]);
    });
  }
}

export interface ViTOutput {
  /** Every token after the final norm, CLS first: (B, 1 + h·w, D). */
  tokens: tf.Tensor3D;
  /** The patch tokens alone, row-major over the h×w grid: (B, h·w, D). */
  patchTokens: tf.Tensor3D;
  /** The last block's attention keys (before attention), heads concatenated, CLS first: (B, 1 + h·w, D). */
  keys: tf.Tensor3D;
  /** The patch grid [h, w] = [H / patch, W / patch]. */
  gridSize: [number, number];
}

export class VisionTransformer extends Module {
  readonly patchEmbed: PatchEmbed;
  readonly clsToken: tf.Variable;
  readonly posEmbed: tf.Variable;
  readonly blocks: ModuleList<Block>;
  readonly norm: LayerNorm;
  /** Patches in the grid the position embedding was learned for: (imgSize / patch)². */
  private readonly trainedPatches: number;

  /** Weights initialised as DINO's `_init_weights` from `rng` (seed 0 by default): the random-ViT control. */
  constructor(
    readonly config: ViTConfig,
    options: { rng?: Rng } = {},
  ) {
    super();
    const { embedDim: d, patchSize, imgSize, depth } = config;
    if (depth < 1) throw new RangeError(`VisionTransformer: depth must be at least 1, got ${depth}`);
    const rng = options.rng ?? new Rng(0);
    this.trainedPatches = Math.floor(imgSize / patchSize) ** 2;
    this.patchEmbed = this.module("patch_embed", new PatchEmbed(config, rng));
    this.clsToken = this.param("cls_token", [1, 1, d], init.truncNormal(rng, d, 0.02));
    this.posEmbed = this.param(
      "pos_embed",
      [1, this.trainedPatches + 1, d],
      init.truncNormal(rng, (this.trainedPatches + 1) * d, 0.02),
    );
    const dropPathRate = (i: number) => (depth > 1 ? (config.dropPathRate * i) / (depth - 1) : 0);
    this.blocks = this.module(
      "blocks",
      new ModuleList(Array.from({ length: depth }, (_, i) => new Block(config, dropPathRate(i), rng))),
    );
    this.norm = this.module("norm", new LayerNorm(d, config.layerNormEps));
  }

  /** Normalised images (B, H, W, Cin), H and W multiples of the patch size → tokens, patch tokens and keys. */
  forward(images: tf.Tensor4D): ViTOutput {
    const gridSize = this.gridSize(images);
    const [tokens, patchTokens, keys] = tf.tidy((): [tf.Tensor3D, tf.Tensor3D, tf.Tensor3D] => {
      let x = this.prepareTokens(images, gridSize); // (B, 1 + h·w, D)
      const blocks = this.blocks.items;
      for (const block of blocks.slice(0, -1)) x = block.forward(x);
      const last = blocks[blocks.length - 1];
      const keys = last.keys(x); // (B, 1 + h·w, D)
      const tokens = this.norm.forward(last.forward(x)) as tf.Tensor3D; // (B, 1 + h·w, D)
      const patchTokens = tokens.slice([0, 1, 0], [-1, -1, -1]); // (B, h·w, D)
      return [tokens, patchTokens, keys];
    });
    return { tokens, patchTokens, keys, gridSize };
  }

  /**
   * The patch tokens after each block in `blockIndices` (0-based, ascending), as maps (B, h, w, D) without the
   * final norm: the multi-level features of mmseg's ViT backbones (`out_indices`, `final_norm=False`).
   */
  forwardLevels(images: tf.Tensor4D, blockIndices: readonly number[]): tf.Tensor4D[] {
    const [h, w] = this.gridSize(images);
    const depth = this.blocks.items.length;
    blockIndices.forEach((index, i) => {
      if (!Number.isInteger(index) || index < 0 || index >= depth || (i > 0 && index <= blockIndices[i - 1]))
        throw new RangeError(
          `VisionTransformer: block indices must be ascending integers below the depth ${depth}, got [${blockIndices}]`,
        );
    });
    return tf.tidy(() => {
      let x = this.prepareTokens(images, [h, w]);
      const levels: tf.Tensor4D[] = [];
      const last = blockIndices[blockIndices.length - 1] ?? -1;
      for (const [index, block] of this.blocks.items.slice(0, last + 1).entries()) {
        x = block.forward(x);
        if (blockIndices.includes(index)) {
          const [b, , d] = x.shape;
          levels.push(x.slice([0, 1, 0], [-1, -1, -1]).reshape([b, h, w, d]) as tf.Tensor4D);
        }
      }
      return levels;
    });
  }

  private gridSize(images: tf.Tensor4D): [number, number] {
    const { patchSize, inChannels } = this.config;
    if (images.rank !== 4 || images.shape[3] !== inChannels) {
      throw new RangeError(
        `VisionTransformer: expected images [B, H, W, ${inChannels}] but received [${images.shape}]`,
      );
    }
    const [, height, width] = images.shape;
    if (height % patchSize !== 0 || width % patchSize !== 0) {
      throw new RangeError(
        `VisionTransformer: image size ${height}×${width} (H×W) is not a multiple of the patch size ${patchSize}`,
      );
    }
    return [height / patchSize, width / patchSize];
  }

  /** DINO's prepare_tokens: patch embedding, CLS token in front, plus the position embedding for this grid. */
  private prepareTokens(images: tf.Tensor4D, [h, w]: [number, number]): tf.Tensor3D {
    const patches = this.patchEmbed.forward(images); // (B, h·w, D)
    const [b, , d] = patches.shape;
    const cls = this.clsToken.broadcastTo([b, 1, d]); // (B, 1, D)
    return tf.concat([cls, patches], 1).add(this.positionEmbedding(h, w)) as tf.Tensor3D; // (B, 1 + h·w, D)
  }

  /**
   * DINO's interpolate_pos_encoding: the learned √N×√N grid resampled bicubically to h×w. DINO asks torch for
   * scale factors ((h + 0.1)/√N, (w + 0.1)/√N) rather than a size, so the 0.1 (added against float round-down,
   * dino issue #8) also shifts the sampling positions; resizeByScale reproduces that. (DINO names the image
   * height `w` and the width `h`, so its `(w0, h0)` is (rows, columns): no transposition, despite the names.)
   */
  private positionEmbedding(h: number, w: number): tf.Tensor3D {
    const trained = this.trainedPatches;
    if (h * w === trained && h === w) return this.posEmbed as tf.Tensor3D;
    const d = this.config.embedDim;
    const side = Math.trunc(Math.sqrt(trained));
    const cls = this.posEmbed.slice([0, 0, 0], [1, 1, d]); // (1, 1, D)
    const grid = this.posEmbed.slice([0, 1, 0], [1, trained, d]).reshape([1, side, side, d]) as tf.Tensor4D;
    const scale: [number, number] = [(h + 0.1) / Math.sqrt(trained), (w + 0.1) / Math.sqrt(trained)];
    const resized = resizeByScale(grid, scale, { mode: "bicubic" }); // (1, h, w, D)
    if (resized.shape[1] !== h || resized.shape[2] !== w) {
      throw new Error(
        `VisionTransformer: position embedding resampled to ${resized.shape[1]}×${resized.shape[2]}, expected ${h}×${w}`,
      );
    }
    return tf.concat([cls, resized.reshape([1, h * w, d])], 1) as tf.Tensor3D; // (1, 1 + h·w, D)
  }
}
