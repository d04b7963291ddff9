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
import type { SwinFeatures, SwinOutputName } from "./swin.js";

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
  /**
   * Weight of the term "matched regions no caption noun claims are background" (each named noun claims its most
   * probable matched region; the rest are pushed to no-object; `unclaimedRegionLoss`). 0 or absent: off.
   */
  unclaimedWeight?: number;
  /**
   * Also pool the backbone's output at this level into each region (e.g. `res4`, MobileNetV2's stride-16 stage end):
   * pretrained features that tell the classes apart better than the trunk's head (tools/backbone-probe.mjs).
   */
  backboneLevel?: SwinOutputName;
}

/**
 * Each region's mean of `features` [B, h', w', C] weighted by σ(`maskLogits`) [B, Q, h, w], averaged down to the
 * features' grid first when it is coarser (h / h' an integer): [B, Q, C]. The weights are constants of the gradient
 * (they train the embedding, not the masks), so the backward pass is written out for the features alone: letting
 * autodiff run through the pooling and multiply by zero at the sigmoid cost ~0.2 s of a 2.3 s training step.
 */
const maskPool = tf.customGrad((...args) => {
  const [maskLogits, features, save] = args as [tf.Tensor4D, tf.Tensor4D, tf.GradSaveFunc];
  const [b, q, h, w] = maskLogits.shape;
  const [, fh, fw, c] = features.shape;
  const factor = h / fh;
  if (!Number.isInteger(factor) || w / fw !== factor)
    throw new RangeError(`RegionHead: masks ${h}×${w} do not tile features ${fh}×${fw} by an integer factor`);
  const { onGrid, mass } = tf.tidy(() => {
    const weights = tf.sigmoid(maskLogits);
    const onGrid =
      factor === 1
        ? weights.reshape([b, q, h * w])
        : tf
            .avgPool(weights.transpose([0, 2, 3, 1]) as tf.Tensor4D, factor, factor, "valid")
            .reshape([b, fh * fw, q])
            .transpose([0, 2, 1]);
    return { onGrid: onGrid as tf.Tensor3D, mass: onGrid.sum(2, true).add(1e-6) };
  });
  save([onGrid, mass]);
  const value = tf.tidy(() => tf.matMul(onGrid, features.reshape([b, fh * fw, c])).div(mass));
  return {
    value,
    gradFunc: (dy: tf.Tensor, saved: tf.Tensor[]) => {
      const [onGridSaved, massSaved] = saved as [tf.Tensor3D, tf.Tensor];
      const dFeatures = tf.matMul(onGridSaved, dy.div(massSaved) as tf.Tensor3D, true, false);
      return [tf.zerosLike(maskLogits), dFeatures.reshape([b, fh, fw, c])];
    },
  };
}) as (maskLogits: tf.Tensor4D, features: tf.Tensor4D) => tf.Tensor3D;

export class RegionHead extends Module {
  readonly pixelProjection: Linear;
  readonly mlp: Mlp | Projector;
  readonly noObject: tf.Variable;
  readonly logitScale: LogitScale;

  constructor(
    readonly config: RegionHeadConfig,
    dims: { maskDim: number; queryDim: number; outDim: number; backboneDim?: number },
    options: { rng: Rng },
  ) {
    super();
    const { hiddenDim, withQuery, backboneLevel } = config;
    if (backboneLevel && !dims.backboneDim)
      throw new RangeError(`RegionHead: backboneLevel ${backboneLevel} needs the backbone's channels there`);
    this.pixelProjection = this.module("pixel_proj", new Linear(dims.maskDim, hiddenDim, options));
    const inDim =
      hiddenDim + (withQuery ? dims.queryDim : 0) + (backboneLevel ? (dims.backboneDim as number) : 0);
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
   * when `withQuery`, the backbone's outputs when `backboneLevel`) → L2-normalised region embeddings [B, Q, E].
   */
  forward(
    maskFeatures: tf.Tensor4D,
    maskLogits: tf.Tensor4D,
    queries: tf.Tensor3D,
    backbone?: SwinFeatures,
  ): tf.Tensor3D {
    return tf.tidy(() => {
      const parts = [maskPool(maskLogits, this.pixelProjection.forward(maskFeatures) as tf.Tensor4D)];
      if (this.config.withQuery) parts.push(queries);
      const level = this.config.backboneLevel;
      if (level) {
        if (!backbone) throw new Error(`RegionHead: backboneLevel ${level} but no backbone features given`);
        parts.push(maskPool(maskLogits, backbone[level]));
      }
      return l2Normalize(
        this.mlp.forward(parts.length === 1 ? parts[0] : tf.concat(parts, 2)),
      ) as tf.Tensor3D;
    });
  }

  /** The no-object embedding, L2-normalised: [1, E], to append to the names' embeddings. */
  noObjectEmbedding(): tf.Tensor2D {
    return tf.tidy(() => l2Normalize(this.noObject.expandDims(0)) as tf.Tensor2D);
  }
}
