/**
 * MaskFormer's transformer decoder (`TransformerPredictor`): N learned queries attend to the backbone's res5
 * through a 6-layer DETR decoder; each layer's output, through a shared LayerNorm, becomes one mask embedding
 * per query (mask logits = embedding · per-pixel mask features) and, for S-Seg, one semantic embedding per query.
 * Re-expressed from MaskFormer's design (CC BY-NC 4.0, not copied; facebookresearch/MaskFormer
 * `mask_former/modeling/transformer/{transformer,transformer_predictor,position_encoding}.py`) and from the DETR
 * decoder and position encoding it reuses (facebookresearch/detr, Apache-2.0), with MaskFormer's settings:
 * post-norm, no encoder layers (memory = the projected res5), return_intermediate (deep supervision).
 * Parameter names are MaskFormer's (`transformer.decoder.layers.{i}.…`, `transformer.decoder.norm`,
 * `query_embed`, `input_proj`, `mask_embed.layers.{i}`; prefix `sem_seg_head.predictor.` in a checkpoint), so a
 * MaskFormer checkpoint loads without its `class_embed`. S-Seg's change: `semantic_embed`, a Linear in place of
 * the class head (the spec's option B), which MaskFormer checkpoints do not have.
 */
import * as tf from "@tensorflow/tfjs";
import { init, Rng } from "../engine/rng.js";
import { MultiheadAttention } from "../nn/attention.js";
import { Conv2d } from "../nn/conv2d.js";
import { Dropout } from "../nn/dropout.js";
import { Embedding } from "../nn/embedding.js";
import { LayerNorm } from "../nn/layer-norm.js";
import { Linear } from "../nn/linear.js";
import { Module, ModuleList } from "../nn/module.js";
import { sinePositionEncoding } from "../nn/position-encoding.js";
import { c2XavierFill } from "./pixel-decoder.js";

export interface TransformerPredictorConfig {
  /** Channels of the input map (res5: 768 for Swin-S). */
  inChannels: number;
  /** Transformer width (HIDDEN_DIM). */
  hiddenDim: number;
  heads: number;
  /** Width of each decoder layer's ReLU feed-forward network (DIM_FEEDFORWARD). */
  feedforwardDim: number;
  /** Decoder layers (DEC_LAYERS); every layer's output is predicted from (deep supervision). */
  layers: number;
  /** Number of queries N: masks and semantic embeddings per image. */
  queries: number;
  /** Channels of the pixel decoder's mask features (MASK_DIM). */
  maskDim: number;
  /** Width of the per-query semantic embedding (S-Seg's "mask features", 256 in the paper). */
  embedDim: number;
  /** Dropout on attention weights and residual branches, training only (DROPOUT). */
  dropout: number;
  /** Project the input with a 1×1 conv even when inChannels equals hiddenDim (ENFORCE_INPUT_PROJ). */
  enforceInputProjection: boolean;
}

/** MaskFormer's decoder (hidden 256, 8 heads, FFN 2048, 6 layers, dropout 0.1) with S-Seg's 64 queries. */
export const maskformerTransformerDecoder = {
  hiddenDim: 256,
  heads: 8,
  feedforwardDim: 2048,
  layers: 6,
  queries: 64,
  maskDim: 256,
  embedDim: 256,
  dropout: 0.1,
  enforceInputProjection: false,
} as const;

/**
 * For CPU training. Width halved (FFN by 4) to match the small pixel decoder; depth kept at 6, since the decoder
 * works on res5 (49 tokens at 224²) and costs little next to the stride-4 convs; 32 queries, still 4× the K = 8
 * pseudo-masks per image that they are matched to, halve the mask logits that the losses read.
 */
export const smallTransformerDecoder = {
  ...maskformerTransformerDecoder,
  hiddenDim: 128,
  heads: 4,
  feedforwardDim: 512,
  queries: 32,
  maskDim: 128,
  embedDim: 128,
} as const;

/** torch's xavier_uniform_ on a Linear weight [out, in]: U(±√(6 / (in + out))). */
function xavierUniform(linear: Linear, rng: Rng): void {
  const bound = Math.sqrt(6 / (linear.inFeatures + linear.outFeatures));
  tf.tidy(() =>
    linear.weight.assign(
      tf.tensor(init.uniform(rng, linear.weight.size, -bound, bound), linear.weight.shape),
    ),
  );
}

/** (B, N, h·d) → (B, h, N, d) */
function splitHeads(x: tf.Tensor3D, heads: number): tf.Tensor4D {
  const [b, n, c] = x.shape;
  return x.reshape([b, n, heads, c / heads]).transpose([0, 2, 1, 3]) as tf.Tensor4D;
}

/**
 * torch.nn.MultiheadAttention(dim, heads, dropout) as DETR builds it: src/nn's MultiheadAttention (its names,
 * layout and init) plus the dropout on the attention weights that torch applies in training.
 */
class DetrAttention extends MultiheadAttention {
  private readonly attnDrop: Dropout;

  constructor(dim: number, heads: number, dropout: number, rng: Rng) {
    super(dim, heads, { rng });
    this.attnDrop = this.module("attn_drop", new Dropout(dropout, rng.fork()));
  }

  /** query [B, Nq, E], key and value [B, Nk, E] → [B, Nq, E] */
  override forward(query: tf.Tensor3D, key: tf.Tensor3D, value: tf.Tensor3D): tf.Tensor3D {
    return tf.tidy(() => {
      const e = this.dim;
      const project = (x: tf.Tensor3D, i: number) => {
        const [b, n] = x.shape;
        const weight = tf.slice(this.inProjWeight, [i * e, 0], [e, e]);
        const bias = tf.slice(this.inProjBias, [i * e], [e]);
        const y = tf.fused.matMul({ a: x.reshape([b * n, e]), b: weight, transposeB: true, bias });
        return splitHeads(y.reshape([b, n, e]) as tf.Tensor3D, this.heads); // [B, h, N, d]
      };
      const q = project(query, 0).mul(1 / Math.sqrt(e / this.heads));
      const logits = tf.matMul(q, project(key, 1), false, true); // [B, h, Nq, Nk]
      const weights = this.attnDrop.forward(tf.softmax(logits));
      const out = tf.matMul(weights, project(value, 2)); // [B, h, Nq, d]
      const [b, h, nq, d] = out.shape;
      return this.outProj.forward(out.transpose([0, 2, 1, 3]).reshape([b, nq, h * d])) as tf.Tensor3D;
    });
  }
}

/** DETR's TransformerDecoderLayer, post-norm (forward_post): self-attention, cross-attention, FFN. */
class TransformerDecoderLayer extends Module {
  readonly selfAttn: DetrAttention;
  readonly multiheadAttn: DetrAttention;
  readonly linear1: Linear;
  readonly linear2: Linear;
  readonly norm1: LayerNorm;
  readonly norm2: LayerNorm;
  readonly norm3: LayerNorm;
  private readonly dropout: Dropout;
  private readonly dropout1: Dropout;
  private readonly dropout2: Dropout;
  private readonly dropout3: Dropout;

  constructor(config: TransformerPredictorConfig, rng: Rng) {
    super();
    const { hiddenDim: d, heads, feedforwardDim, dropout: p } = config;
    this.selfAttn = this.module("self_attn", new DetrAttention(d, heads, p, rng));
    this.multiheadAttn = this.module("multihead_attn", new DetrAttention(d, heads, p, rng));
    this.linear1 = this.module("linear1", new Linear(d, feedforwardDim, { rng }));
    this.dropout = this.module("dropout", new Dropout(p, rng.fork()));
    this.linear2 = this.module("linear2", new Linear(feedforwardDim, d, { rng }));
    this.norm1 = this.module("norm1", new LayerNorm(d));
    this.norm2 = this.module("norm2", new LayerNorm(d));
    this.norm3 = this.module("norm3", new LayerNorm(d));
    this.dropout1 = this.module("dropout1", new Dropout(p, rng.fork()));
    this.dropout2 = this.module("dropout2", new Dropout(p, rng.fork()));
    this.dropout3 = this.module("dropout3", new Dropout(p, rng.fork()));
    // DETR's Transformer._reset_parameters: xavier_uniform_ on every matrix (biases keep their defaults)
    for (const linear of [this.selfAttn.outProj, this.multiheadAttn.outProj, this.linear1, this.linear2])
      xavierUniform(linear, rng);
  }

  /**
   * tgt [B, Q, E]; memory [B, HW, E] and memoryKey = memory + pos (the same in every layer, so added once);
   * queryPos [Q, E] → [B, Q, E]
   */
  forward(tgt: tf.Tensor3D, memory: tf.Tensor3D, memoryKey: tf.Tensor3D, queryPos: tf.Tensor2D): tf.Tensor3D {
    return tf.tidy(() => {
      const q = tgt.add(queryPos) as tf.Tensor3D;
      let x = this.norm1.forward(tgt.add(this.dropout1.forward(this.selfAttn.forward(q, q, tgt))));
      const attended = this.multiheadAttn.forward(x.add(queryPos) as tf.Tensor3D, memoryKey, memory);
      x = this.norm2.forward(x.add(this.dropout2.forward(attended)));
      const ffn = this.linear2.forward(this.dropout.forward(tf.relu(this.linear1.forward(x))));
      return this.norm3.forward(x.add(this.dropout3.forward(ffn))) as tf.Tensor3D;
    });
  }
}

/** DETR's TransformerDecoder with return_intermediate: the shared final norm applied to every layer's output. */
class TransformerDecoder extends Module {
  readonly layers: ModuleList<TransformerDecoderLayer>;
  readonly norm: LayerNorm;

  constructor(config: TransformerPredictorConfig, rng: Rng) {
    super();
    this.layers = this.module(
      "layers",
      new ModuleList(Array.from({ length: config.layers }, () => new TransformerDecoderLayer(config, rng))),
    );
    this.norm = this.module("norm", new LayerNorm(config.hiddenDim));
  }

  /** Query content starts at zero (DETR's tgt = zeros_like(query_embed)) → every layer's output [L, B, Q, E]. */
  forward(memory: tf.Tensor3D, memoryKey: tf.Tensor3D, queryPos: tf.Tensor2D): tf.Tensor4D {
    return tf.tidy(() => {
      const [b] = memory.shape;
      const [q, e] = queryPos.shape;
      let tgt: tf.Tensor3D = tf.zeros([b, q, e]);
      const outputs: tf.Tensor[] = [];
      for (const layer of this.layers.items) {
        tgt = layer.forward(tgt, memory, memoryKey, queryPos);
        outputs.push(this.norm.forward(tgt));
      }
      return tf.stack(outputs) as tf.Tensor4D;
    });
  }
}

/** DETR's Transformer with MaskFormer's ENC_LAYERS = 0: only the decoder holds weights. */
class Transformer extends Module {
  readonly decoder: TransformerDecoder;

  constructor(config: TransformerPredictorConfig, rng: Rng) {
    super();
    this.decoder = this.module("decoder", new TransformerDecoder(config, rng));
  }
}

/** DETR's MLP ("FFN"): Linear layers named layers.{i}, ReLU between them. */
class MLP extends Module {
  readonly layers: ModuleList<Linear>;

  constructor(inDim: number, hiddenDim: number, outDim: number, depth: number, rng: Rng) {
    super();
    const widths = [inDim, ...Array<number>(depth - 1).fill(hiddenDim), outDim];
    this.layers = this.module(
      "layers",
      new ModuleList(widths.slice(1).map((out, i) => new Linear(widths[i], out, { rng }))),
    );
  }

  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const layers = this.layers.items;
      layers.slice(0, -1).forEach((layer) => {
        x = tf.relu(layer.forward(x));
      });
      return layers[layers.length - 1].forward(x);
    });
  }
}

export interface TransformerPredictorOutput {
  /** Mask logits of the last layer: [B, Q, H/4, W/4] (MaskFormer's pred_masks). */
  predMasks: tf.Tensor4D;
  /** Mask logits of layers 1 … L−1, first layer first, each [B, Q, H/4, W/4] (aux_outputs); [] if not asked. */
  auxMasks: tf.Tensor4D[];
  /** The last layer's semantic embedding of each query: [B, Q, embedDim]. */
  queryEmbeddings: tf.Tensor3D;
  /**
   * Every layer's semantic embeddings, [L, B, Q, embedDim], last layer last. One Linear on the decoder outputs
   * that the mask head reads anyway, so cheap; the S-Seg trainer may supervise only the last layer.
   */
  layerQueryEmbeddings: tf.Tensor4D;
}

export class TransformerPredictor extends Module {
  readonly transformer: Transformer;
  /** The learned query positions [Q, E], added to queries and keys in every layer. */
  readonly queryEmbed: Embedding;
  /** 1×1 conv res5 → hiddenDim; null (MaskFormer's empty nn.Sequential) when the widths already agree. */
  readonly inputProj: Conv2d | null;
  readonly maskEmbed: MLP;
  readonly semanticEmbed: Linear;

  /** Weights initialised as MaskFormer's (DETR's xavier, c2_xavier_fill, N(0, 1) queries) from `rng`. */
  constructor(
    readonly config: TransformerPredictorConfig,
    options: { rng?: Rng } = {},
  ) {
    super();
    const rng = options.rng ?? new Rng(0);
    const { inChannels, hiddenDim, queries } = config;
    this.transformer = this.module("transformer", new Transformer(config, rng));
    this.queryEmbed = this.module("query_embed", new Embedding(queries, hiddenDim, { rng }));
    this.inputProj = null;
    if (inChannels !== hiddenDim || config.enforceInputProjection) {
      this.inputProj = this.module("input_proj", new Conv2d(inChannels, hiddenDim, 1, { rng }));
      c2XavierFill(this.inputProj, rng);
    }
    this.maskEmbed = this.module("mask_embed", new MLP(hiddenDim, hiddenDim, config.maskDim, 3, rng));
    this.semanticEmbed = this.module("semantic_embed", new Linear(hiddenDim, config.embedDim, { rng }));
  }

  /**
   * res5 [B, h, w, inChannels] and the pixel decoder's mask features [B, H/4, W/4, maskDim] → mask logits and
   * semantic embeddings. `auxiliary: false` skips the earlier layers' mask logits (inference needs only the last).
   */
  forward(
    x: tf.Tensor4D,
    maskFeatures: tf.Tensor4D,
    options: { auxiliary?: boolean } = {},
  ): TransformerPredictorOutput {
    this.checkInputs(x, maskFeatures);
    const auxiliary = options.auxiliary ?? true;
    return tf.tidy(() => {
      const [b, h, w] = x.shape;
      const e = this.config.hiddenDim;
      const memory = (this.inputProj ? this.inputProj.forward(x) : x).reshape([b, h * w, e]) as tf.Tensor3D;
      // DETR's PositionEmbeddingSine(E/2, normalize=True): y features then x features, the same for every image
      const encoding = sinePositionEncoding(h, w, { numPosFeats: e / 2, normalize: true }); // [h, w, E]
      const pos = tf.tensor(encoding, [1, h * w, e]);
      const memoryKey = memory.add(pos) as tf.Tensor3D; // [B, hw, E]
      const queryPos = this.queryEmbed.weight as tf.Tensor2D; // [Q, E]
      const hs = this.transformer.decoder.forward(memory, memoryKey, queryPos); // [L, B, Q, E], DETR's name
      const layers = hs.shape[0];

      const layerQueryEmbeddings = this.semanticEmbed.forward(hs) as tf.Tensor4D; // [L, B, Q, D]
      const queryEmbeddings = layerQueryEmbeddings.slice([layers - 1], [1]).squeeze([0]) as tf.Tensor3D;
      const predicted = auxiliary ? hs : hs.slice([layers - 1], [1]); // [L', B, Q, E]
      const masks = this.maskLogits(this.maskEmbed.forward(predicted) as tf.Tensor4D, maskFeatures);
      return {
        predMasks: masks[masks.length - 1],
        auxMasks: masks.slice(0, -1),
        queryEmbeddings,
        layerQueryEmbeddings,
      };
    });
  }

  /**
   * MaskFormer's einsum("lbqc,bchw->lbqhw") as one batched matmul: mask embeddings [L, B, Q, C] · mask features
   * [B, H, W, C] → per layer [B, Q, H, W]. All layers share one GEMM per image (and one in the backward pass).
   */
  private maskLogits(maskEmbeddings: tf.Tensor4D, maskFeatures: tf.Tensor4D): tf.Tensor4D[] {
    const [layers, b, q, c] = maskEmbeddings.shape;
    const [, h, w] = maskFeatures.shape;
    const embeddings = maskEmbeddings.transpose([1, 0, 2, 3]).reshape([b, layers * q, c]); // [B, L·Q, C]
    const pixels = maskFeatures.reshape([b, h * w, c]); // [B, HW, C]
    const logits = tf.matMul(embeddings, pixels, false, true).reshape([b, layers, q * h * w]); // [B, L, Q·HW]
    // layer-major before splitting, so each layer is a contiguous block (strided slices are slow on the CPU)
    return tf.unstack(logits.transpose([1, 0, 2]).reshape([layers, b, q, h, w])) as tf.Tensor4D[];
  }

  private checkInputs(x: tf.Tensor4D, maskFeatures: tf.Tensor4D): void {
    const { inChannels, maskDim } = this.config;
    if (x.rank !== 4 || x.shape[3] !== inChannels)
      throw new RangeError(
        `TransformerPredictor: expected input [B, h, w, ${inChannels}] but received [${x.shape}]`,
      );
    if (maskFeatures.rank !== 4 || maskFeatures.shape[0] !== x.shape[0] || maskFeatures.shape[3] !== maskDim)
      throw new RangeError(
        `TransformerPredictor: expected mask features [${x.shape[0]}, H, W, ${maskDim}] but received [${maskFeatures.shape}]`,
      );
  }
}
