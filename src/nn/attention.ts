import * as tf from "@tensorflow/tfjs";
import { init, type Rng } from "../engine/rng.js";
import { Linear } from "./linear.js";
import { Module } from "./module.js";

export interface AttentionExtras {
  /** Added to the attention logits, broadcastable to (B, heads, Nq, Nk): relative-position bias, window masks. */
  bias?: tf.Tensor;
  /** Boolean (B, Nk), true where a key is padding and must be ignored (torch key_padding_mask). */
  keyPaddingMask?: tf.Tensor;
}

/** softmax(q·kᵀ·scale + bias)·v for q (B, h, Nq, d), k and v (B, h, Nk, d) → (B, h, Nq, d). */
export function scaledDotProductAttention(
  q: tf.Tensor4D,
  k: tf.Tensor4D,
  v: tf.Tensor4D,
  extras: AttentionExtras = {},
): tf.Tensor4D {
  return tf.tidy(() => {
    const scale = 1 / Math.sqrt(q.shape[3]);
    let logits: tf.Tensor = tf.matMul(q.mul(scale), k, false, true); // (B, h, Nq, Nk)
    if (extras.bias) logits = logits.add(extras.bias);
    if (extras.keyPaddingMask) logits = logits.add(paddingToAdditive(extras.keyPaddingMask));
    return tf.matMul(tf.softmax(logits), v) as tf.Tensor4D;
  });
}

/** A constant (B, 1, 1, Nk) of 0 or −∞, built from the boolean mask outside any gradient path. */
function paddingToAdditive(mask: tf.Tensor): tf.Tensor {
  const [b, n] = mask.shape;
  return tf
    .where(mask.cast("bool"), tf.fill([b, n], Number.NEGATIVE_INFINITY), tf.zeros([b, n]))
    .reshape([b, 1, 1, n]);
}

/** (B, N, h·d) → (B, h, N, d) */
function splitHeads(x: tf.Tensor, heads: number): tf.Tensor4D {
  const [b, n, c] = x.shape;
  return x.reshape([b, n, heads, c / heads]).transpose([0, 2, 1, 3]) as tf.Tensor4D;
}

/** (B, h, N, d) → (B, N, h·d) */
function mergeHeads(x: tf.Tensor4D): tf.Tensor3D {
  const [b, h, n, d] = x.shape;
  return x.transpose([0, 2, 1, 3]).reshape([b, n, h * d]) as tf.Tensor3D;
}

/**
 * The i-th of three stacked projections (q, k or v) of x (B, N, E) with weight (3E, E) and bias (3E), split
 * into heads. Slicing the weight, not the projected activations, keeps the backward pass free of a large
 * stack/concat: only the (E, E) weight slice's gradient is padded back.
 */
function projectHeads(
  x: tf.Tensor3D,
  weight: tf.Tensor,
  bias: tf.Tensor | null,
  i: number,
  heads: number,
): tf.Tensor4D {
  const [b, n, e] = x.shape;
  const w = tf.slice(weight, [i * e, 0], [e, e]);
  const bi = bias ? tf.slice(bias, [i * e], [e]) : undefined;
  const y = tf.fused.matMul({ a: x.reshape([b * n, e]), b: w, transposeB: true, bias: bi });
  return splitHeads(y.reshape([b, n, e]), heads);
}

function checkHeads(dim: number, heads: number): void {
  if (dim % heads !== 0) throw new RangeError(`attention: dim ${dim} is not divisible by ${heads} heads`);
}

/**
 * Self-attention with one fused qkv projection, as in timm/DINO ViT and Swin (names qkv, proj).
 * Relative-position bias and window masks enter through `extras.bias`.
 */
export class Attention extends Module {
  readonly qkv: Linear;
  readonly proj: Linear;

  constructor(
    readonly dim: number,
    readonly heads: number,
    options: { rng: Rng; qkvBias?: boolean },
  ) {
    super();
    checkHeads(dim, heads);
    this.qkv = this.module(
      "qkv",
      new Linear(dim, 3 * dim, { rng: options.rng, bias: options.qkvBias ?? true }),
    );
    this.proj = this.module("proj", new Linear(dim, dim, { rng: options.rng }));
  }

  /** x (B, N, C) → (B, N, C) */
  forward(x: tf.Tensor3D, extras: AttentionExtras = {}): tf.Tensor3D {
    return tf.tidy(() => {
      const [q, k, v] = [0, 1, 2].map((i) => projectHeads(x, this.qkv.weight, this.qkv.bias, i, this.heads));
      return this.proj.forward(mergeHeads(scaledDotProductAttention(q, k, v, extras))) as tf.Tensor3D;
    });
  }
}

/**
 * torch.nn.MultiheadAttention (batch_first) with its parameter names (in_proj_weight, in_proj_bias, out_proj)
 * and init (xavier-uniform in-projection, zero biases), for DETR-style decoders with separate query/key/value.
 */
export class MultiheadAttention extends Module {
  readonly inProjWeight: tf.Variable;
  readonly inProjBias: tf.Variable;
  readonly outProj: Linear;

  constructor(
    readonly dim: number,
    readonly heads: number,
    options: { rng: Rng },
  ) {
    super();
    checkHeads(dim, heads);
    const bound = Math.sqrt(6 / (dim + 3 * dim));
    this.inProjWeight = this.param(
      "in_proj_weight",
      [3 * dim, dim],
      init.uniform(options.rng, 3 * dim * dim, -bound, bound),
    );
    this.inProjBias = this.param("in_proj_bias", [3 * dim], init.zeros(3 * dim));
    this.outProj = this.module("out_proj", new Linear(dim, dim, options));
    tf.tidy(() => this.outProj.bias!.assign(tf.zerosLike(this.outProj.bias!)));
  }

  /** query (B, Nq, E), key and value (B, Nk, E) → (B, Nq, E) */
  forward(
    query: tf.Tensor3D,
    key: tf.Tensor3D,
    value: tf.Tensor3D,
    extras: AttentionExtras = {},
  ): tf.Tensor3D {
    return tf.tidy(() => {
      const e = this.dim;
      const project = (x: tf.Tensor3D, i: number) => {
        const w = tf.slice(this.inProjWeight, [i * e, 0], [e, e]);
        const b = tf.slice(this.inProjBias, [i * e], [e]);
        return splitHeads(
          tf
            .matMul(x.reshape([-1, e]), w, false, true)
            .add(b)
            .reshape([x.shape[0], x.shape[1], e]),
          this.heads,
        );
      };
      const out = scaledDotProductAttention(project(query, 0), project(key, 1), project(value, 2), extras);
      return this.outProj.forward(mergeHeads(out)) as tf.Tensor3D;
    });
  }
}
