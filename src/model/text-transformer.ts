/**
 * The caption encoder: GroupViT's `TextTransformer`, all of it in this one file. Ported from NVlabs/GroupViT
 * `models/transformer.py` (`Transformer`, `TextTransformer`) and `models/utils.py` (`ResidualAttentionBlock`,
 * `QuickGELU`), both MIT, "Copyright (c) 2021 OpenAI", modified by Jiarui Xu: OpenAI CLIP's text tower.
 * Parameter names and layouts are GroupViT's (`token_embedding`, `positional_embedding`, `ln_final`,
 * `transformer.resblocks.{i}.{attn,ln_1,mlp.c_fc,mlp.c_proj,ln_2}`), so the `text_encoder.` part of a
 * GroupViT checkpoint loads by name with `loadStateDict`.
 * What changed: activations are batch-first [B, T, C] (GroupViT permutes to [T, B, C] for
 * nn.MultiheadAttention), the causal mask is built per call, padding after the last end-of-text token is not
 * computed (see `encode`), and row lookups carry a scatter-add gradient (see `gatherRows`).
 */
import * as tf from "@tensorflow/tfjs";
import { quickGelu } from "../engine/kernels/norm.js";
import { init, Rng } from "../engine/rng.js";
import { MultiheadAttention } from "../nn/attention.js";
import { Embedding } from "../nn/embedding.js";
import { LayerNorm } from "../nn/layer-norm.js";
import { Linear } from "../nn/linear.js";
import { Module, ModuleList } from "../nn/module.js";
import type { ClipTokenizer } from "../text/tokenizer.js";

export interface TextTransformerConfig {
  /** Token positions the learned positional embedding covers; longer inputs are refused. */
  contextLength: number;
  vocabSize: number;
  width: number;
  layers: number;
  /** Attention heads; GroupViT uses width / 64. */
  heads: number;
}

/** S-Seg's text tower in GroupViT's shape (spec §6): 12 layers of width 256, 4 heads, CLIP's 77 × 49408. */
export const textTransformerPaper: TextTransformerConfig = {
  contextLength: 77,
  vocabSize: 49408,
  width: 256,
  layers: 12,
  heads: 4,
};

/**
 * For CPU training: 4 of the 12 layers at the paper's width, so the projector and the contrastive space keep
 * their 256-d shapes; the 12.6M-value token table (same in both) dominates the size; the blocks cost 3× less.
 */
export const textTransformerSmall: TextTransformerConfig = { ...textTransformerPaper, layers: 4 };

/** CLIP's QuickGELU, x·σ(1.702x): the activation its MLPs were trained with (not torch's exact GELU). */
export { quickGelu };

/** The block's MLP width → 4·width → width, under CLIP's names `c_fc` and `c_proj`. */
class ClipMlp extends Module {
  readonly cFc: Linear;
  readonly cProj: Linear;

  constructor(width: number, rng: Rng) {
    super();
    this.cFc = this.module("c_fc", new Linear(width, 4 * width, { rng }));
    this.cProj = this.module("c_proj", new Linear(4 * width, width, { rng }));
  }

  forward(x: tf.Tensor): tf.Tensor {
    return this.cProj.forward(quickGelu(this.cFc.forward(x)));
  }
}

/** CLIP's ResidualAttentionBlock, pre-LN: x + attn(ln_1(x)) under the causal mask, then x + mlp(ln_2(x)). */
class ResidualAttentionBlock extends Module {
  readonly attn: MultiheadAttention;
  readonly ln1: LayerNorm;
  readonly mlp: ClipMlp;
  readonly ln2: LayerNorm;

  constructor(width: number, heads: number, rng: Rng) {
    super();
    this.attn = this.module("attn", new MultiheadAttention(width, heads, { rng }));
    this.ln1 = this.module("ln_1", new LayerNorm(width));
    this.mlp = this.module("mlp", new ClipMlp(width, rng));
    this.ln2 = this.module("ln_2", new LayerNorm(width));
  }

  /** x [B, T, C], causalMask [1, 1, T, T] of 0 and −∞ → [B, T, C] */
  forward(x: tf.Tensor3D, causalMask: tf.Tensor): tf.Tensor3D {
    return tf.tidy(() => {
      const h = this.ln1.forward(x) as tf.Tensor3D;
      x = x.add(this.attn.forward(h, h, h, { bias: causalMask }));
      return x.add(this.mlp.forward(this.ln2.forward(x)));
    });
  }
}

/** GroupViT's `Transformer`: the stack of blocks (`resblocks`, an nn.Sequential) with CLIP's scaled init. */
class Transformer extends Module {
  readonly resblocks: ModuleList<ResidualAttentionBlock>;

  constructor(width: number, layers: number, heads: number, rng: Rng) {
    super();
    this.resblocks = this.module(
      "resblocks",
      new ModuleList(Array.from({ length: layers }, () => new ResidualAttentionBlock(width, heads, rng))),
    );
    // Projections into the residual stream shrink with depth so its variance stays put across 2·layers adds.
    const attnStd = width ** -0.5;
    const projStd = width ** -0.5 * (2 * layers) ** -0.5;
    const fcStd = (2 * width) ** -0.5;
    const normal = (v: tf.Variable, std: number) =>
      tf.tidy(() => v.assign(tf.tensor(init.normal(rng, v.size, std), v.shape)));
    for (const block of this.resblocks.items) {
      normal(block.attn.inProjWeight, attnStd);
      normal(block.attn.outProj.weight, projStd);
      normal(block.mlp.cFc.weight, fcStd);
      normal(block.mlp.cProj.weight, projStd);
    }
  }

  forward(x: tf.Tensor3D, causalMask: tf.Tensor): tf.Tensor3D {
    for (const block of this.resblocks.items) x = block.forward(x, causalMask);
    return x;
  }
}

export class TextTransformer extends Module {
  readonly transformer: Transformer;
  readonly positionalEmbedding: tf.Variable;
  readonly lnFinal: LayerNorm;
  readonly tokenEmbedding: Embedding;

  /** Weights initialised as GroupViT's from `rng` (seed 0 by default). */
  constructor(
    readonly config: TextTransformerConfig,
    options: { rng?: Rng } = {},
  ) {
    super();
    const { contextLength, vocabSize, width, layers, heads } = config;
    if (layers < 1) throw new RangeError(`TextTransformer: layers must be at least 1, got ${layers}`);
    const rng = options.rng ?? new Rng(0);
    this.transformer = this.module("transformer", new Transformer(width, layers, heads, rng));
    this.positionalEmbedding = this.param(
      "positional_embedding",
      [contextLength, width],
      init.normal(rng, contextLength * width, 0.01),
    );
    this.lnFinal = this.module("ln_final", new LayerNorm(width));
    this.tokenEmbedding = this.module("token_embedding", new Embedding(vocabSize, width, { rng, std: 0.02 }));
  }

  get width(): number {
    return this.config.width;
  }

  /**
   * Token ids [B, T] (int32, T ≤ contextLength, zero-padded CLIP rows) → the final-LayerNorm state at each
   * row's end-of-text token, found as GroupViT does, by argmax of the ids: [B, width].
   * Positions after the batch's last end-of-text token are dropped before the blocks: under the causal mask
   * no earlier position attends to them, so the pooled features are the same as with the full 77.
   */
  encode(tokenIds: tf.Tensor2D): tf.Tensor2D {
    const { endOfText, length } = this.endOfTextPositions(tokenIds);
    return tf.tidy(() => {
      const [batch] = tokenIds.shape;
      const width = this.config.width;
      const ids = tokenIds.slice([0, 0], [batch, length]); // [B, L]
      const positions = this.positionalEmbedding.slice([0, 0], [length, width]); // [L, C]
      const tokens = gatherRows(this.tokenEmbedding.weight, ids.flatten()); // [B·L, C]
      let x = tokens.reshape([batch, length, width]).add(positions) as tf.Tensor3D; // [B, L, C]
      x = this.transformer.forward(x, causalMask(length));
      const normed = this.lnFinal.forward(x).reshape([batch * length, width]); // [B·L, C]
      const endOfTextRows = endOfText.map((position, b) => b * length + position);
      return gatherRows(normed, tf.tensor1d(endOfTextRows, "int32")); // [B, C]
    });
  }

  /** Checks the ids; returns each row's argmax (first on ties, as torch) and the length the batch needs. */
  private endOfTextPositions(tokenIds: tf.Tensor2D): { endOfText: number[]; length: number } {
    const { contextLength, vocabSize } = this.config;
    if (tokenIds.rank !== 2 || tokenIds.dtype !== "int32") {
      throw new RangeError(
        `TextTransformer: expected int32 token ids [B, T] but received ${tokenIds.dtype} [${tokenIds.shape}]`,
      );
    }
    const [batch, positions] = tokenIds.shape;
    if (batch < 1 || positions < 1) {
      throw new RangeError(`TextTransformer: empty token ids [${tokenIds.shape}]`);
    }
    if (positions > contextLength) {
      throw new RangeError(
        `TextTransformer: ${positions} token positions exceed the context length ${contextLength}; ` +
          `tokenize with contextLength ${contextLength} (it truncates and keeps the end-of-text token)`,
      );
    }
    const ids = tokenIds.dataSync();
    const endOfText: number[] = [];
    for (let b = 0; b < batch; b++) {
      let best = 0;
      for (let t = 0; t < positions; t++) {
        const id = ids[b * positions + t];
        if (id < 0 || id >= vocabSize) {
          throw new RangeError(
            `TextTransformer: token id ${id} (row ${b}) is outside the vocabulary 0..${vocabSize - 1}`,
          );
        }
        if (id > ids[b * positions + best]) best = t;
      }
      endOfText.push(best);
    }
    return { endOfText, length: endOfText.reduce((a, b) => Math.max(a, b), 0) + 1 };
  }
}

/**
 * table[ids]: rows of a [V, C] table for int32 ids [N] → [N, C] (the token lookup, the end-of-text pooling)
 * with a scatter-add gradient. tf.gather's own gradient is the cpu backend's UnsortedSegmentSum, which loops
 * over all V rows (about 2 minutes for 60 token ids at width 64); scatterND sums the N rows in one pass.
 */
function gatherRows(table: tf.Tensor, ids: tf.Tensor1D): tf.Tensor2D {
  const lookup = tf.customGrad((...args) => {
    const [t, save] = args as [tf.Tensor, tf.GradSaveFunc];
    save([ids]);
    return {
      value: tf.gather(t, ids),
      gradFunc: (dy: tf.Tensor, [savedIds]: tf.Tensor[]) => tf.scatterND(savedIds.expandDims(1), dy, t.shape),
    };
  });
  return lookup(table) as tf.Tensor2D;
}

/** CLIP's additive attention mask [1, 1, L, L]: 0 on and below the diagonal, −∞ above (no looking ahead). */
function causalMask(length: number): tf.Tensor4D {
  const mask = new Float32Array(length * length);
  for (let i = 0; i < length; i++) mask.fill(Number.NEGATIVE_INFINITY, i * length + i + 1, (i + 1) * length);
  return tf.tensor4d(mask, [1, 1, length, length]);
}

/** Captions → the [B, contextLength] int32 ids `encode` takes (CLIP's tokenize; truncated rows end in EOT). */
export function tokenizeCaptions(
  tokenizer: ClipTokenizer,
  captions: readonly string[],
  contextLength = textTransformerPaper.contextLength,
): tf.Tensor2D {
  return tf.tensor2d(tokenizer.tokenize(captions, contextLength), [captions.length, contextLength], "int32");
}
