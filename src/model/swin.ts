/**
 * The Swin Transformer backbone of MaskFormer, all of it in this one file. Ported from facebookresearch/MaskFormer
 * `mask_former/modeling/backbone/swin.py`: Microsoft's Swin Transformer (MIT), as adapted to detectron2 by Bowen
 * Cheng. Parameter and buffer names are that file's state-dict keys (`patch_embed.proj`, `layers.{i}.blocks.{j}.
 * attn.relative_position_bias_table` and `….relative_position_index`, `layers.{i}.downsample.reduction`,
 * `norm0`…`norm3`), so a MaskFormer Swin state dict loads by name with `loadStateDict`. An official ImageNet Swin
 * checkpoint loads with `strict: false`: it lacks norm0…norm3 and adds `norm`, `head` and shifted blocks' `attn_mask`.
 *
 * What changed: activations are channels-last, [B, H, W, C] throughout instead of tokens [B, H·W, C]. Window
 * partition, head split and their inverses are one reshape-transpose each over all windows at once; the qkv and
 * output projections run on the whole padded map (they act per token, so this equals running them per window); the
 * relative-position bias is looked up by a one-hot matrix product, whose gradient is a matrix product too. Not
 * ported, because MaskFormer's configs never use them: absolute position embedding, frozen stages, gradient
 * checkpointing, dropout (drop rates 0) and qk_scale.
 */
import * as tf from "@tensorflow/tfjs";
import { init, Rng } from "../engine/rng.js";
import { scaledDotProductAttention } from "../nn/attention.js";
import { Conv2d } from "../nn/conv2d.js";
import { DropPath } from "../nn/dropout.js";
import { LayerNorm } from "../nn/layer-norm.js";
import { Linear } from "../nn/linear.js";
import { Mlp } from "../nn/mlp.js";
import { Module, ModuleList } from "../nn/module.js";

export interface SwinConfig {
  /** Side of the square patches cut by the patch embedding (a convolution with stride = kernel = patchSize). */
  patchSize: number;
  inChannels: number;
  /** Channels C of the first stage; stage i has C·2^i. */
  embedDim: number;
  /** Blocks per stage (four stages); blocks alternate plain and shifted windows, starting plain. */
  depths: readonly [number, number, number, number];
  /** Attention heads per stage. */
  numHeads: readonly [number, number, number, number];
  /** Side of the square attention windows, in tokens. */
  windowSize: number;
  /** MLP hidden width = mlpRatio · C. */
  mlpRatio: number;
  qkvBias: boolean;
  /** Stochastic depth of the last block; block k of n gets rate · k / (n − 1), as MaskFormer's torch.linspace. */
  dropPathRate: number;
}

/** MaskFormer's Swin settings (`mask_former/config.py`) with its ADE20k configs' drop-path rate 0.3. */
const maskFormerDefaults = {
  patchSize: 4,
  inChannels: 3,
  windowSize: 7,
  mlpRatio: 4,
  qkvBias: true,
  dropPathRate: 0.3,
};

/** Swin-T, 27.5M parameters as this backbone (`maskformer_swin_tiny_bs16_160k.yaml`). */
export const swin_tiny: SwinConfig = {
  ...maskFormerDefaults,
  embedDim: 96,
  depths: [2, 2, 6, 2],
  numHeads: [3, 6, 12, 24],
};

/** Swin-S, the S-Seg backbone: 48.8M parameters (`maskformer_swin_small_bs16_160k.yaml`). */
export const swin_small: SwinConfig = { ...swin_tiny, depths: [2, 2, 18, 2] };

/**
 * Not a published model: our size for training on 2 CPU cores. Swin-T at a third of the width (32, heads still 32
 * channels wide) with one plain and one shifted-window block per stage, so every stage still mixes across window
 * borders: 2.3M parameters, 0.37 G multiply-adds at 224² (Swin-T: 4.5 G); drop-path 0.1, as befits a model this small.
 */
export const swin_nano: SwinConfig = {
  ...maskFormerDefaults,
  embedDim: 32,
  depths: [2, 2, 2, 2],
  numHeads: [1, 2, 4, 8],
  dropPathRate: 0.1,
};

/** The four outputs, named as detectron2's ResNet stages: strides 4, 8, 16, 32 and channels C, 2C, 4C, 8C. */
export const SWIN_OUTPUTS = ["res2", "res3", "res4", "res5"] as const;
export type SwinOutputName = (typeof SWIN_OUTPUTS)[number];
/** Each output stage after its LayerNorm, channels-last [B, H/stride, W/stride, channels] (sizes rounded up). */
export type SwinFeatures = Record<SwinOutputName, tf.Tensor4D>;

/**
 * Swin's `_init_weights` for a Linear: trunc_normal(std 0.02) weight, zero bias. MaskFormer's copy defines it but
 * never applies it (its backbone always starts from ImageNet weights); we train from scratch, so we apply it as
 * microsoft/Swin-Transformer and the mmseg version MaskFormer copied do.
 */
function initLinear(linear: Linear, rng: Rng): void {
  tf.tidy(() => {
    linear.weight.assign(tf.tensor(init.truncNormal(rng, linear.weight.size, 0.02), linear.weight.shape));
    linear.bias?.assign(tf.zerosLike(linear.bias));
  });
}

const roundUp = (n: number, multiple: number) => Math.ceil(n / multiple) * multiple;

/** Zero-pad x [B, H, W, C] at the bottom and right to [B, height, width, C], as MaskFormer's F.pad calls. */
function padBottomRight(x: tf.Tensor4D, height: number, width: number): tf.Tensor4D {
  const [, h, w] = x.shape;
  if (h === height && w === width) return x;
  return tf.pad(x, [
    [0, 0],
    [0, height - h],
    [0, width - w],
    [0, 0],
  ]);
}

/**
 * f applied along H, then along W of x [B, H, W, C], each axis moved to the front first: tfjs's cpu backend
 * slices and concatenates along the leading axis by block copies, but along inner axes element by element.
 */
function alongHeightThenWidth(x: tf.Tensor4D, f: (t: tf.Tensor, axis: 1 | 2) => tf.Tensor): tf.Tensor4D {
  const rows = f(x.transpose([1, 0, 2, 3]), 1); // [H', B, W, C]
  const columns = f(rows.transpose([2, 1, 0, 3]), 2); // [W', B, H', C]
  return columns.transpose([1, 2, 0, 3]) as tf.Tensor4D; // [B, H', W', C]
}

/** torch.roll(x, (shift, shift), dims=(1, 2)) for x [B, H, W, C]: the cyclic shift of shifted windows. */
function roll(x: tf.Tensor4D, shift: number): tf.Tensor4D {
  return alongHeightThenWidth(x, (t) => {
    const n = t.shape[0];
    const k = ((shift % n) + n) % n; // the first k rows of the result are the last k of t
    return k === 0 ? t : tf.concat([t.slice(n - k, k), t.slice(0, n - k)]);
  });
}

/** x[:, :height, :width] for x [B, H, W, C]: drops the padding to whole windows. */
function crop(x: tf.Tensor4D, height: number, width: number): tf.Tensor4D {
  if (x.shape[1] === height && x.shape[2] === width) return x;
  return alongHeightThenWidth(x, (t, axis) => t.slice(0, axis === 1 ? height : width));
}

/**
 * WindowAttention's relative_position_index [N, N], N = window²: for tokens a and b of one window (row-major),
 * the row of the bias table that holds their offset, (Δrow + w − 1)·(2w − 1) + (Δcol + w − 1).
 */
function relativePositionIndex(window: number): Float32Array {
  const n = window * window;
  const index = new Float32Array(n * n);
  for (let a = 0; a < n; a++) {
    for (let b = 0; b < n; b++) {
      const dRow = Math.floor(a / window) - Math.floor(b / window);
      const dColumn = (a % window) - (b % window);
      index[a * n + b] = (dRow + window - 1) * (2 * window - 1) + dColumn + window - 1;
    }
  }
  return index;
}

/**
 * BasicLayer's attention mask for shifted windows over a padded Hp×Wp map: [nW, N, N], windows row-major. After
 * the cyclic shift, windows on the last row or column hold up to three regions that were not neighbours (the
 * bottom/right edge and the wrapped-around top/left); a token attends to its own region (0) and not to the others
 * (−100, as MaskFormer).
 */
function shiftedWindowMask(hp: number, wp: number, window: number, shift: number): tf.Tensor3D {
  const region = (i: number, size: number) => (i < size - window ? 0 : i < size - shift ? 1 : 2);
  const [rows, columns, n] = [hp / window, wp / window, window * window];
  const windows = rows * columns;
  const ids = new Int32Array(windows * n); // region of every token, window by window
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < columns; c++) {
      for (let t = 0; t < n; t++) {
        const y = r * window + Math.floor(t / window);
        const x = c * window + (t % window);
        ids[(r * columns + c) * n + t] = 3 * region(y, hp) + region(x, wp);
      }
    }
  }
  const mask = new Float32Array(windows * n * n);
  for (let w = 0; w < windows; w++) {
    for (let a = 0; a < n; a++) {
      for (let b = 0; b < n; b++) mask[(w * n + a) * n + b] = ids[w * n + a] === ids[w * n + b] ? 0 : -100;
    }
  }
  return tf.tensor3d(mask, [windows, n, n]);
}

/** Multi-head self-attention within windows (W-MSA / SW-MSA), with a learned relative-position bias per head. */
class WindowAttention extends Module {
  /** [(2w − 1)², heads]: one bias per head for every offset between two tokens of a window. */
  readonly relativePositionBiasTable: tf.Variable;
  /** [N, N], a buffer: which table row each token pair reads; saved with the weights, as in MaskFormer. */
  readonly relativePositionIndex: tf.Variable;
  readonly qkv: Linear;
  readonly proj: Linear;
  private cachedOneHot: { source: object; matrix: tf.Tensor2D } | null = null;

  constructor(
    readonly dim: number,
    readonly heads: number,
    readonly window: number,
    options: { rng: Rng; qkvBias: boolean },
  ) {
    super();
    const offsets = (2 * window - 1) ** 2;
    this.relativePositionBiasTable = this.param(
      "relative_position_bias_table",
      [offsets, heads],
      init.truncNormal(options.rng, offsets * heads, 0.02),
    );
    const n = window * window;
    this.relativePositionIndex = this.buffer(
      "relative_position_index",
      [n, n],
      relativePositionIndex(window),
    );
    this.qkv = this.module("qkv", new Linear(dim, 3 * dim, { rng: options.rng, bias: options.qkvBias }));
    this.proj = this.module("proj", new Linear(dim, dim, { rng: options.rng }));
  }

  /**
   * relative_position_index as a one-hot matrix [N², (2w − 1)²], built once per value of the buffer (loading a state
   * dict assigns it a new dataId). A one-hot product instead of a gather: tfjs's gather gradient (an unsorted
   * segment sum) is slow on the cpu, a matrix product's is fast.
   */
  private oneHotIndex(): tf.Tensor2D {
    const index = this.relativePositionIndex;
    if (this.cachedOneHot?.source !== index.dataId) {
      this.cachedOneHot?.matrix.dispose();
      const offsets = this.relativePositionBiasTable.shape[0];
      const matrix = tf.tidy(() => tf.oneHot(index.reshape([-1]).toInt(), offsets, 1, 0, "float32"));
      this.cachedOneHot = { source: index.dataId, matrix: tf.keep(matrix) as tf.Tensor2D };
    }
    return this.cachedOneHot.matrix;
  }

  /** The bias each head adds to its attention logits: [heads, N, N]. */
  private relativePositionBias(): tf.Tensor3D {
    const n = this.window * this.window;
    return tf
      .matMul(this.relativePositionBiasTable, this.oneHotIndex(), true, true)
      .reshape([this.heads, n, n]);
  }

  /**
   * x [B, Hp, Wp, C], Hp and Wp multiples of the window → [B, Hp, Wp, C]: attention within each window, plus the
   * shifted-window mask [nW, N, N] when given.
   */
  forward(x: tf.Tensor4D, mask: tf.Tensor3D | null): tf.Tensor4D {
    return tf.tidy(() => {
      const [b, hp, wp, c] = x.shape;
      const [w, heads, d] = [this.window, this.heads, c / this.heads];
      const [rows, columns, n] = [hp / w, wp / w, w * w];
      const windows = rows * columns;
      const qkv = this.qkv
        .forward(x)
        .reshape([b, rows, w, columns, w, 3, heads, d])
        .transpose([5, 0, 1, 3, 6, 2, 4, 7]); // [3, B, rows, columns, heads, w, w, d]
      let bias: tf.Tensor = this.relativePositionBias(); // [heads, N, N]
      // Plain windows share the bias: [B·nW, heads, N, N]. Shifted windows differ by their mask, so windows and
      // heads share one axis, where [nW·heads, N, N] broadcasts over the batch: [B, nW·heads, N, N].
      const shape = mask ? [b, windows * heads, n, d] : [b * windows, heads, n, d];
      if (mask) bias = bias.add(mask.expandDims(1)).reshape([windows * heads, n, n]);
      const [q, k, v] = tf.split(qkv, 3).map((t) => t.reshape(shape) as tf.Tensor4D);
      const attended = scaledDotProductAttention(q, k, v, { bias })
        .reshape([b, rows, columns, heads, w, w, d])
        .transpose([0, 1, 4, 2, 5, 3, 6]) // [B, rows, w, columns, w, heads, d]
        .reshape([b, hp, wp, c]);
      return this.proj.forward(attended) as tf.Tensor4D;
    });
  }

  override dispose(): void {
    this.cachedOneHot?.matrix.dispose();
    super.dispose();
  }
}

/** Pre-norm block: x + attention(norm1(x)) over (shifted) windows, then x + mlp(norm2(x)). */
class SwinTransformerBlock extends Module {
  readonly norm1: LayerNorm;
  readonly attn: WindowAttention;
  readonly norm2: LayerNorm;
  readonly mlp: Mlp;
  readonly dropPath: DropPath;

  constructor(
    dim: number,
    heads: number,
    /** 0 for plain windows, ⌊window/2⌋ for shifted ones. */
    readonly shift: number,
    dropPathRate: number,
    config: SwinConfig,
    rng: Rng,
  ) {
    super();
    this.norm1 = this.module("norm1", new LayerNorm(dim));
    this.attn = this.module(
      "attn",
      new WindowAttention(dim, heads, config.windowSize, { rng, qkvBias: config.qkvBias }),
    );
    this.norm2 = this.module("norm2", new LayerNorm(dim));
    this.mlp = this.module("mlp", new Mlp(dim, Math.trunc(dim * config.mlpRatio), dim, { rng }));
    this.dropPath = this.module("drop_path", new DropPath(dropPathRate, rng.fork()));
    for (const linear of [this.attn.qkv, this.attn.proj, this.mlp.fc1, this.mlp.fc2]) initLinear(linear, rng);
  }

  /** x [B, H, W, C] → [B, H, W, C]; `mask` is the stage's shifted-window mask, used by shifted blocks. */
  forward(x: tf.Tensor4D, mask: tf.Tensor3D | null): tf.Tensor4D {
    return tf.tidy(() => {
      const [, h, w] = x.shape;
      const window = this.attn.window;
      // Padded after the norm, as MaskFormer: the padding tokens are zeros, not normalised zeros.
      let y = padBottomRight(this.norm1.forward(x) as tf.Tensor4D, roundUp(h, window), roundUp(w, window));
      if (this.shift > 0) y = roll(y, -this.shift);
      y = this.attn.forward(y, this.shift > 0 ? mask : null);
      if (this.shift > 0) y = roll(y, this.shift);
      x = x.add(this.dropPath.forward(crop(y, h, w)));
      return x.add(this.dropPath.forward(this.mlp.forward(this.norm2.forward(x))));
    });
  }
}

/** Halves H and W and doubles C: each 2×2 neighbourhood's four tokens concatenated, normalised, projected. */
class PatchMerging extends Module {
  readonly reduction: Linear;
  readonly norm: LayerNorm;

  constructor(dim: number, rng: Rng) {
    super();
    this.reduction = this.module("reduction", new Linear(4 * dim, 2 * dim, { rng, bias: false }));
    this.norm = this.module("norm", new LayerNorm(4 * dim));
    initLinear(this.reduction, rng);
  }

  /** x [B, H, W, C] → [B, ⌈H/2⌉, ⌈W/2⌉, 2C]; odd sizes are zero-padded at the bottom/right first. */
  forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const [b, h, w, c] = x.shape;
      const [h2, w2] = [Math.ceil(h / 2), Math.ceil(w / 2)];
      // torch.cat order x0 (even row, even column), x1 (odd, even), x2 (even, odd), x3 (odd, odd): column parity
      // is the outer index, row parity the inner.
      const neighbourhoods = padBottomRight(x, 2 * h2, 2 * w2)
        .reshape([b, h2, 2, w2, 2, c])
        .transpose([0, 1, 3, 4, 2, 5]) // [B, H/2, W/2, column parity, row parity, C]
        .reshape([b, h2, w2, 4 * c]);
      return this.reduction.forward(this.norm.forward(neighbourhoods)) as tf.Tensor4D;
    });
  }
}

/** One stage: its blocks, and (except in the last stage) the patch merging that feeds the next stage. */
class BasicLayer extends Module {
  readonly blocks: ModuleList<SwinTransformerBlock>;
  readonly downsample: PatchMerging | null;
  private readonly window: number;
  private readonly shift: number;

  constructor(
    dim: number,
    heads: number,
    dropPathRates: number[],
    withDownsample: boolean,
    config: SwinConfig,
    rng: Rng,
  ) {
    super();
    this.window = config.windowSize;
    const shift = Math.floor(this.window / 2);
    this.shift = dropPathRates.length > 1 ? shift : 0; // 0: no shifted block in this stage
    this.blocks = this.module(
      "blocks",
      new ModuleList(
        dropPathRates.map(
          (rate, i) => new SwinTransformerBlock(dim, heads, i % 2 === 0 ? 0 : shift, rate, config, rng),
        ),
      ),
    );
    this.downsample = withDownsample ? this.module("downsample", new PatchMerging(dim, rng)) : null;
  }

  /** x [B, H, W, C] → [B, H, W, C]; `downsample`, when there is one, then prepares the next stage's input. */
  forward(x: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const [, h, w] = x.shape;
      const [window, shift] = [this.window, this.shift];
      // One mask for all the stage's shifted blocks, as MaskFormer's BasicLayer.
      const mask =
        shift > 0 ? shiftedWindowMask(roundUp(h, window), roundUp(w, window), window, shift) : null;
      for (const block of this.blocks.items) x = block.forward(x, mask);
      return x;
    });
  }
}

/** Image to patch tokens: a patch×patch convolution with stride patch, then LayerNorm (patch_norm on). */
class PatchEmbed extends Module {
  readonly proj: Conv2d;
  readonly norm: LayerNorm;

  constructor(
    private readonly patchSize: number,
    inChannels: number,
    embedDim: number,
    rng: Rng,
  ) {
    super();
    this.proj = this.module("proj", new Conv2d(inChannels, embedDim, patchSize, { rng, stride: patchSize }));
    this.norm = this.module("norm", new LayerNorm(embedDim));
  }

  /** images [B, H, W, Cin] → [B, ⌈H/p⌉, ⌈W/p⌉, C]; sizes that are not multiples of p are zero-padded first. */
  forward(images: tf.Tensor4D): tf.Tensor4D {
    return tf.tidy(() => {
      const p = this.patchSize;
      const [, h, w] = images.shape;
      const patches = this.proj.forward(padBottomRight(images, roundUp(h, p), roundUp(w, p)));
      return this.norm.forward(patches) as tf.Tensor4D;
    });
  }
}

/** Every problem with a config at once, before anything is built. */
function checkConfig(config: SwinConfig): void {
  const { depths, numHeads, embedDim, windowSize, patchSize, dropPathRate } = config;
  const problems: string[] = [];
  if (depths.length !== 4 || numHeads.length !== 4)
    problems.push(`depths and numHeads need 4 stages, got [${depths}] and [${numHeads}]`);
  if (depths.some((d) => !Number.isInteger(d) || d < 1)) problems.push(`depths must be ≥ 1, got [${depths}]`);
  if (!Number.isInteger(windowSize) || windowSize < 1)
    problems.push(`windowSize must be ≥ 1, got ${windowSize}`);
  if (!Number.isInteger(patchSize) || patchSize < 1) problems.push(`patchSize must be ≥ 1, got ${patchSize}`);
  if (!(dropPathRate >= 0 && dropPathRate < 1))
    problems.push(`dropPathRate must be in [0, 1), got ${dropPathRate}`);
  numHeads.forEach((heads, i) => {
    if ((embedDim * 2 ** i) % heads !== 0)
      problems.push(`stage ${i}: ${embedDim * 2 ** i} channels are not divisible by ${heads} heads`);
  });
  if (problems.length > 0) throw new RangeError(`SwinTransformer: invalid config: ${problems.join("; ")}`);
}

/**
 * The Swin Transformer backbone: images [B, H, W, Cin] (any size) → four LayerNormed stages res2…res5 at strides
 * patch·1, 2, 4, 8 (4…32) with C, 2C, 4C, 8C channels, as MaskFormer's D2SwinTransformer.
 */
export class SwinTransformer extends Module {
  readonly patchEmbed: PatchEmbed;
  readonly layers: ModuleList<BasicLayer>;
  /** norm0…norm3: one LayerNorm per output stage. */
  readonly outputNorms: LayerNorm[];

  /** Weights initialised as Swin's `_init_weights` from `rng` (seed 0 by default). */
  constructor(
    readonly config: SwinConfig,
    options: { rng?: Rng } = {},
  ) {
    super();
    checkConfig(config);
    const rng = options.rng ?? new Rng(0);
    const { depths, numHeads, embedDim } = config;
    this.patchEmbed = this.module(
      "patch_embed",
      new PatchEmbed(config.patchSize, config.inChannels, embedDim, rng),
    );
    const total = depths.reduce((a, b) => a + b, 0);
    const rates = Array.from({ length: total }, (_, k) =>
      total > 1 ? (config.dropPathRate * k) / (total - 1) : 0,
    );
    const first = (stage: number) => depths.slice(0, stage).reduce((a, b) => a + b, 0);
    this.layers = this.module(
      "layers",
      new ModuleList(
        depths.map(
          (depth, i) =>
            new BasicLayer(
              embedDim * 2 ** i,
              numHeads[i],
              rates.slice(first(i), first(i) + depth),
              i < depths.length - 1,
              config,
              rng,
            ),
        ),
      ),
    );
    this.outputNorms = depths.map((_, i) => this.module(`norm${i}`, new LayerNorm(embedDim * 2 ** i)));
  }

  /** Channels and stride of each output, as D2SwinTransformer.output_shape(). */
  outputShape(): Record<SwinOutputName, { channels: number; stride: number }> {
    const { embedDim, patchSize } = this.config;
    const shape = (i: number) => ({ channels: embedDim * 2 ** i, stride: patchSize * 2 ** i });
    return { res2: shape(0), res3: shape(1), res4: shape(2), res5: shape(3) };
  }

  /** Normalised images [B, H, W, Cin] → res2…res5, each [B, ⌈H/stride⌉, ⌈W/stride⌉, channels]. */
  forward(images: tf.Tensor4D): SwinFeatures {
    this.checkImages(images);
    return tf.tidy(() => {
      let x = this.patchEmbed.forward(images);
      const features: Partial<SwinFeatures> = {};
      for (const [i, name] of SWIN_OUTPUTS.entries()) {
        const layer = this.layers.items[i];
        const output = layer.forward(x);
        features[name] = this.outputNorms[i].forward(output) as tf.Tensor4D;
        if (layer.downsample) x = layer.downsample.forward(output);
      }
      return features as SwinFeatures;
    });
  }

  private checkImages(images: tf.Tensor): void {
    const c = this.config.inChannels;
    if (images.rank === 4 && images.shape[3] === c) return;
    const channelsFirst = images.rank === 4 && images.shape[1] === c;
    throw new RangeError(
      `SwinTransformer: expected channels-last images [B, H, W, ${c}] but received [${images.shape}]` +
        (channelsFirst ? " (channels-first? transpose with images.transpose([0, 2, 3, 1]))" : ""),
    );
  }
}
