import * as tf from "@tensorflow/tfjs";
import { init, type Rng } from "../engine/rng.js";
import { Module } from "./module.js";
import { resize } from "./resize.js";

export interface SineOptions {
  /** Channels per axis; the encoding has 2·numPosFeats channels (y first, then x). */
  numPosFeats?: number;
  temperature?: number;
  normalize?: boolean;
  scale?: number;
}

/**
 * DETR's PositionEmbeddingSine (no padding mask) as a channels-last (H, W, 2·numPosFeats) array:
 * cumulative row/column positions, optionally normalised to (0, 2π], through interleaved sin/cos frequencies.
 */
export function sinePositionEncoding(height: number, width: number, options: SineOptions = {}): Float32Array {
  const feats = options.numPosFeats ?? 64;
  const temperature = options.temperature ?? 10000;
  const normalize = options.normalize ?? false;
  const scale = options.scale ?? 2 * Math.PI;
  const eps = 1e-6;
  const out = new Float32Array(height * width * 2 * feats);
  const freq = new Float64Array(feats);
  for (let i = 0; i < feats; i++) freq[i] = temperature ** ((2 * Math.floor(i / 2)) / feats);
  const embed = (pos: number, size: number) => (normalize ? (pos / (size + eps)) * scale : pos);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const base = (y * width + x) * 2 * feats;
      const ey = embed(y + 1, height);
      const ex = embed(x + 1, width);
      for (let i = 0; i < feats; i++) {
        const trig = i % 2 === 0 ? Math.sin : Math.cos;
        out[base + i] = trig(ey / freq[i]);
        out[base + feats + i] = trig(ex / freq[i]);
      }
    }
  }
  return out;
}

/** A learned grid of position embeddings (weight (H·W, D), row-major), resampled when the grid size changes. */
export class LearnedPositionEmbedding extends Module {
  readonly weight: tf.Variable;

  constructor(
    readonly gridHeight: number,
    readonly gridWidth: number,
    readonly dim: number,
    options: { rng: Rng; std?: number },
  ) {
    super();
    const n = gridHeight * gridWidth;
    this.weight = this.param("weight", [n, dim], init.truncNormal(options.rng, n * dim, options.std ?? 0.02));
  }

  /** Embeddings for an (h, w) grid → (h·w, D): the stored grid, or its bicubic resampling (timm's resample_abs_pos_embed). */
  forward(height = this.gridHeight, width = this.gridWidth): tf.Tensor2D {
    if (height === this.gridHeight && width === this.gridWidth) return this.weight as tf.Tensor2D;
    return tf.tidy(() => {
      const grid = this.weight.reshape([1, this.gridHeight, this.gridWidth, this.dim]) as tf.Tensor4D;
      return resize(grid, [height, width], { mode: "bicubic" }).reshape([
        height * width,
        this.dim,
      ]) as tf.Tensor2D;
    });
  }
}
