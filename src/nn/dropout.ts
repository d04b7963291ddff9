import * as tf from "@tensorflow/tfjs";
import { Rng } from "../engine/rng.js";
import { Module } from "./module.js";

/** A keep-mask of `size` Bernoulli(1 − p) values scaled by 1/(1 − p), drawn from our seeded RNG. */
function keepMask(rng: Rng, size: number, p: number): Float32Array {
  const scale = 1 / (1 - p);
  const mask = new Float32Array(size);
  for (let i = 0; i < size; i++) mask[i] = rng.uniform() >= p ? scale : 0;
  return mask;
}

/** Element-wise dropout in training mode, identity in eval mode (torch.nn.Dropout). */
export class Dropout extends Module {
  constructor(
    readonly p: number,
    protected rng: Rng,
  ) {
    super();
    if (!(p >= 0 && p < 1)) throw new RangeError(`Dropout: p must be in [0, 1), got ${p}`);
  }

  /** Draw from a fresh generator: training reseeds every step so a resumed run drops the same units. */
  reseed(seed: number): void {
    this.rng = new Rng(seed);
  }

  forward(x: tf.Tensor): tf.Tensor {
    if (!this.training || this.p === 0) return x;
    return tf.tidy(() => x.mul(tf.tensor(keepMask(this.rng, x.size, this.p), x.shape)));
  }
}

/** Stochastic depth: drops the whole residual branch per sample (timm's DropPath, scale_by_keep=True). */
export class DropPath extends Module {
  constructor(
    readonly p: number,
    private rng: Rng,
  ) {
    super();
    if (!(p >= 0 && p < 1)) throw new RangeError(`DropPath: p must be in [0, 1), got ${p}`);
  }

  /** As Dropout.reseed. */
  reseed(seed: number): void {
    this.rng = new Rng(seed);
  }

  forward(x: tf.Tensor): tf.Tensor {
    if (!this.training || this.p === 0) return x;
    const batch = x.shape[0];
    const maskShape = [batch, ...x.shape.slice(1).map(() => 1)];
    return tf.tidy(() => x.mul(tf.tensor(keepMask(this.rng, batch, this.p), maskShape)));
  }
}

/** Channel dropout on [B, H, W, C] maps: whole channels per sample zeroed (torch.nn.Dropout2d), identity in eval. */
export class Dropout2d extends Dropout {
  override forward(x: tf.Tensor4D): tf.Tensor4D {
    if (!this.training || this.p === 0) return x;
    const [b, , , c] = x.shape;
    return tf.tidy(() => x.mul(tf.tensor(keepMask(this.rng, b * c, this.p), [b, 1, 1, c])));
  }
}
