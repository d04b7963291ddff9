/**
 * The projections into the shared image–text space and the contrastive temperature, after GroupViT's
 * `ProjectMLP` and `MultiLabelContrastive.logit_scale` (NVlabs/GroupViT `models/multi_label_contrastive.py`,
 * NVIDIA Source Code License; re-implemented here from its structure, no code copied).
 * Parameter names and layouts are GroupViT's (`linear_hidden.0` a 1×1 Conv1d, `linear_hidden.1` BatchNorm1d,
 * `linear_out` a 1×1 Conv1d), so a GroupViT `img_projector.` / `text_projector.` state dict loads by name.
 * GroupViT converts the BatchNorm to SyncBatchNorm; on one process that is the same layer.
 */
import * as tf from "@tensorflow/tfjs";
import { init, Rng } from "../engine/rng.js";
import { BatchNorm } from "../nn/batch-norm.js";
import { Module } from "../nn/module.js";

export interface ProjectorConfig {
  inDim: number;
  hiddenDim: number;
  outDim: number;
}

/** S-Seg's projector with GroupViT's widths (spec §3 "Projection"): 256 → 4096 → 256. */
export const projectorPaper: ProjectorConfig = { inDim: 256, hiddenDim: 4096, outDim: 256 };

/**
 * nn.Conv1d(in, out, kernel_size=1) on channels-last input: a Linear over the last axis whose weight keeps
 * Conv1d's layout [out, in, 1] (so checkpoints load unchanged) and torch's default init (bound 1/√in).
 */
class PointwiseConv1d extends Module {
  readonly weight: tf.Variable;
  readonly bias: tf.Variable;

  constructor(
    readonly inChannels: number,
    readonly outChannels: number,
    rng: Rng,
  ) {
    super();
    const bound = 1 / Math.sqrt(inChannels);
    this.weight = this.param(
      "weight",
      [outChannels, inChannels, 1],
      init.uniform(rng, outChannels * inChannels, -bound, bound),
    );
    this.bias = this.param("bias", [outChannels], init.uniform(rng, outChannels, -bound, bound));
  }

  /** [..., in] → [..., out] */
  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => {
      const lead = x.shape.slice(0, -1);
      const weight = this.weight.reshape([this.outChannels, this.inChannels]);
      const y = tf.fused.matMul({
        a: x.reshape([-1, this.inChannels]),
        b: weight,
        transposeB: true,
        bias: this.bias,
      });
      return y.reshape([...lead, this.outChannels]);
    });
  }
}

/** GroupViT's `linear_hidden` nn.Sequential(Conv1d, BatchNorm1d, ReLU): children named by position. */
class HiddenLayer extends Module {
  readonly fc: PointwiseConv1d;
  readonly norm: BatchNorm;

  constructor(inDim: number, hiddenDim: number, rng: Rng) {
    super();
    this.fc = this.module("0", new PointwiseConv1d(inDim, hiddenDim, rng));
    this.norm = this.module("1", new BatchNorm(hiddenDim));
  }

  forward(x: tf.Tensor): tf.Tensor {
    return tf.tidy(() => tf.relu(this.norm.forward(this.fc.forward(x))));
  }
}

/**
 * ProjectMLP with GroupViT's two layers: Conv1d in→hidden, BatchNorm1d, ReLU, Conv1d hidden→out.
 * In training mode the BatchNorm normalises with batch statistics (over B, or B·L for [B, L, C]) and updates
 * its running statistics; in eval mode it uses them. S-Seg trains on the image embedding [B, C] and, like
 * GroupViT's `encode_image`, projects each query's feature [B, L, C] at test time.
 */
export class Projector extends Module {
  readonly linearHidden: HiddenLayer;
  readonly linearOut: PointwiseConv1d;

  constructor(
    readonly config: ProjectorConfig,
    options: { rng?: Rng } = {},
  ) {
    super();
    const rng = options.rng ?? new Rng(0);
    this.linearHidden = this.module("linear_hidden", new HiddenLayer(config.inDim, config.hiddenDim, rng));
    this.linearOut = this.module("linear_out", new PointwiseConv1d(config.hiddenDim, config.outDim, rng));
  }

  /** [B, in] or [B, L, in] → [B, out] or [B, L, out] */
  forward(x: tf.Tensor): tf.Tensor {
    const { inDim } = this.config;
    if ((x.rank !== 2 && x.rank !== 3) || x.shape[x.rank - 1] !== inDim) {
      throw new RangeError(`Projector: expected [B, ${inDim}] or [B, L, ${inDim}] but received [${x.shape}]`);
    }
    return tf.tidy(() => this.linearOut.forward(this.linearHidden.forward(x)));
  }
}

/** CLIP's initial temperature 0.07, as the logit scale's logarithm θ = ln(1/0.07) ≈ 2.659. */
export const LOGIT_SCALE_INIT = Math.log(1 / 0.07);
/** GroupViT clamps exp(θ) at 100 (temperature ≥ 0.01) so the logits cannot blow up. */
export const LOGIT_SCALE_MAX = 100;

/**
 * The learnable contrastive temperature as GroupViT's `logit_scale`: a 0-d parameter θ, logits are scaled by
 * min(exp θ, 100). Its own module so the model can hold it next to the projectors; weightDecayGroups keeps it
 * out of weight decay (by its name and its 0-d shape).
 */
export class LogitScale extends Module {
  readonly theta: tf.Variable;

  constructor(initial = LOGIT_SCALE_INIT) {
    super();
    this.theta = this.param("logit_scale", [], Float32Array.of(initial));
  }

  /** min(exp θ, 100) as torch.clamp(θ.exp(), max=100): above the cap no gradient reaches θ. */
  scale(): tf.Scalar {
    return tf.tidy(() => tf.minimum(tf.exp(this.theta), LOGIT_SCALE_MAX) as tf.Scalar);
  }
}
