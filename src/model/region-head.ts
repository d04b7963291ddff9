/**
 * Local region embeddings for naming (naming issue #22, the prototype's best recipe): each query's embedding is
 * pooled from the pixels its mask covers — MLP(Σ_p σ(m_qp)·E_p / Σ_p σ(m_qp)), E a 1×1 projection of the pixel
 * decoder's stride-4 mask features, σ(m) held constant — so a query on the background cannot carry what the rest
 * of the image holds, as the decoder's whole-image query output can. A learned no-object embedding competes with
 * the names, under its own learnable temperature; where it wins, the region is background.
 */
import * as tf from "@tensorflow/tfjs";
import { init, type Rng } from "../engine/rng.js";
import { Linear } from "../nn/linear.js";
import { Mlp } from "../nn/mlp.js";
import { Module } from "../nn/module.js";
import { l2Normalize } from "../nn/normalize.js";
import { LogitScale, Projector } from "./projector.js";

export interface RegionHeadConfig {
  /** Width of the pixel projection E and of the MLP's hidden layer. */
  hiddenDim: number;
  /** Also feed each query's decoder output into its region embedding (an ablation: the prototype's weaker variant). */
  withQuery: boolean;
  /**
   * BatchNorm in the MLP's hidden layer, as in S-Seg's projectors. Without it every region of every image starts at
   * the same embedding (mean cosine 0.99), so the noun loss can only learn noun frequencies at first (docs/naming.md).
   */
  batchNorm?: boolean;
  /**
   * Weight of the term "every image holds some background": −log max_q P[q, no-object], per image. Without it the
   * no-object class loses all mass in the first updates and, as a softmax class at probability ~0, gets no gradient.
   */
  backgroundWeight?: number;
  /**
   * Count in-batch pairs whose captions name the same nouns as positives of the caption contrastive loss
   * (multi-positive InfoNCE; an ablation — the prototype saw no effect at ~0.1 % such pairs).
   */
  multiPositive?: boolean;
}

/** σ(x) as a constant of the gradient: pooling weights that train the embedding, not the masks. */
const constantSigmoid = tf.customGrad((x) => ({
  value: tf.sigmoid(x as tf.Tensor),
  gradFunc: (dy: tf.Tensor) => tf.zerosLike(dy),
}));

export class RegionHead extends Module {
  readonly pixelProjection: Linear;
  readonly mlp: Mlp | Projector;
  readonly noObject: tf.Variable;
  readonly logitScale: LogitScale;

  constructor(
    readonly config: RegionHeadConfig,
    dims: { maskDim: number; queryDim: number; outDim: number },
    options: { rng: Rng },
  ) {
    super();
    const { hiddenDim, withQuery } = config;
    this.pixelProjection = this.module("pixel_proj", new Linear(dims.maskDim, hiddenDim, options));
    const inDim = hiddenDim + (withQuery ? dims.queryDim : 0);
    this.mlp = this.module(
      "mlp",
      config.batchNorm
        ? new Projector({ inDim, hiddenDim, outDim: dims.outDim }, options)
        : new Mlp(inDim, hiddenDim, dims.outDim, { ...options, activation: "relu" }),
    );
    this.noObject = this.param("no_object_embed", [dims.outDim], init.normal(options.rng, dims.outDim, 0.02));
    this.logitScale = this.module("logit_scale", new LogitScale());
  }

  /**
   * Mask features [B, h, w, M] and the last layer's mask logits [B, Q, h, w] (and the queries' outputs [B, Q, D]
   * when `withQuery`) → L2-normalised region embeddings [B, Q, E].
   */
  forward(maskFeatures: tf.Tensor4D, maskLogits: tf.Tensor4D, queries: tf.Tensor3D): tf.Tensor3D {
    return tf.tidy(() => {
      const [b, q, h, w] = maskLogits.shape;
      const pixels = this.pixelProjection.forward(maskFeatures.reshape([b, h * w, -1])); // [B, hw, H]
      const weights = constantSigmoid(maskLogits.reshape([b, q, h * w])) as tf.Tensor3D;
      const pooled = tf.matMul(weights, pixels).div(weights.sum(2, true).add(1e-6)); // [B, Q, H]
      const input = this.config.withQuery ? tf.concat([pooled, queries], 2) : pooled;
      return l2Normalize(this.mlp.forward(input)) as tf.Tensor3D;
    });
  }

  /** The no-object embedding, L2-normalised: [1, E], to append to the names' embeddings. */
  noObjectEmbedding(): tf.Tensor2D {
    return tf.tidy(() => l2Normalize(this.noObject.expandDims(0)) as tf.Tensor2D);
  }
}
