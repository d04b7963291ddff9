/**
 * Seeded random numbers for initialisers and data pipelines. Pure TypeScript, no engine dependency,
 * so the same seed gives the same weights and the same batches in Node and in the browser.
 */

/** A small, fast, seedable generator (SplitMix32 seeding + xoshiro128**). */
export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;
  private spareNormal: number | undefined;

  constructor(seed: number) {
    if (!Number.isFinite(seed)) throw new TypeError(`Expected a finite number for seed but received ${seed}`);
    let x = Math.trunc(seed) >>> 0;
    const next = () => {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.s0 = next();
    this.s1 = next();
    this.s2 = next();
    this.s3 = next();
  }

  /** Next 32-bit unsigned integer. */
  nextUint32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5) >>> 0, 7), 9) >>> 0;
    const t = (this.s1 << 9) >>> 0;
    this.s2 ^= this.s0;
    this.s3 ^= this.s1;
    this.s1 ^= this.s2;
    this.s0 ^= this.s3;
    this.s2 ^= t;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform in [0, 1). */
  uniform(): number {
    return this.nextUint32() / 4294967296;
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    if (!Number.isInteger(n) || n <= 0)
      throw new RangeError(`Expected a positive integer for n but received ${n}`);
    return Math.floor(this.uniform() * n);
  }

  /** Standard normal (Box–Muller, both values used). */
  normal(): number {
    if (this.spareNormal !== undefined) {
      const v = this.spareNormal;
      this.spareNormal = undefined;
      return v;
    }
    let u = 0;
    while (u === 0) u = this.uniform();
    const v = this.uniform();
    const r = Math.sqrt(-2 * Math.log(u));
    this.spareNormal = r * Math.sin(2 * Math.PI * v);
    return r * Math.cos(2 * Math.PI * v);
  }

  /** Fisher–Yates shuffle in place. */
  shuffle<T>(items: T[]): T[] {
    for (let i = items.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [items[i], items[j]] = [items[j], items[i]];
    }
    return items;
  }

  /** An independent generator derived from this one (for per-worker or per-module streams). */
  fork(): Rng {
    return new Rng(this.nextUint32());
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** Initialisers: each fills a new Float32Array of `size` values. */
export const init = {
  zeros: (size: number) => new Float32Array(size),
  ones: (size: number) => new Float32Array(size).fill(1),
  constant: (size: number, value: number) => new Float32Array(size).fill(value),
  uniform(rng: Rng, size: number, low: number, high: number): Float32Array {
    const out = new Float32Array(size);
    for (let i = 0; i < size; i++) out[i] = low + (high - low) * rng.uniform();
    return out;
  },
  normal(rng: Rng, size: number, std: number, mean = 0): Float32Array {
    const out = new Float32Array(size);
    for (let i = 0; i < size; i++) out[i] = mean + std * rng.normal();
    return out;
  },
  /** timm's trunc_normal_: N(0, std) resampled until inside [low, high] (absolute bounds, as in timm). */
  truncNormal(rng: Rng, size: number, std: number, low = -2, high = 2): Float32Array {
    const out = new Float32Array(size);
    for (let i = 0; i < size; i++) {
      let v: number;
      do v = std * rng.normal();
      while (v < low || v > high);
      out[i] = v;
    }
    return out;
  },
};
