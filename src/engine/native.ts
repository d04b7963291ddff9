/**
 * The one module that loads the native kernel pack (a Node-API addon built from native/). It picks the build
 * for this CPU (AVX-512 or AVX2+FMA), prefers a local build (npm run build:native) over the shipped prebuilt
 * binary, and reports why when nothing loads, so the engine can fall back to the stock tfjs kernels.
 */
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";

/** The addon's functions; every array is a dense row-major Float32Array unless typed otherwise. */
export interface NativePack {
  abiVersion: number;
  gemm(
    a: Float32Array,
    b: Float32Array,
    out: Float32Array,
    aOffsets: Int32Array,
    bOffsets: Int32Array,
    m: number,
    n: number,
    k: number,
    transposeA: boolean,
    transposeB: boolean,
    bias: Float32Array | null,
    activation: number,
    alpha: number,
  ): void;
  binary(
    op: number,
    a: Float32Array,
    aStrides: Int32Array,
    b: Float32Array,
    bStrides: Int32Array,
    out: Float32Array,
    shape: Int32Array,
  ): void;
  unary(op: number, x: Float32Array, out: Float32Array, alpha: number): void;
  softmax(x: Float32Array, out: Float32Array, rows: number, cols: number): void;
  softmaxGrad(y: Float32Array, dy: Float32Array, dx: Float32Array, rows: number, cols: number): void;
  transpose(x: Float32Array, out: Float32Array, shape: Int32Array, perm: Int32Array): void;
  reduce(op: number, x: Float32Array, out: Float32Array, outer: number, reduced: number, inner: number): void;
  /** NHWC convolution; geometry = batch, inH, inW, inC, outH, outW, outC, kH, kW, strideH, strideW, padTop, padLeft, dilH, dilW. */
  conv2d(x: Float32Array, filter: Float32Array, y: Float32Array, geometry: Int32Array): void;
  conv2dBackpropInput(dy: Float32Array, filter: Float32Array, dx: Float32Array, geometry: Int32Array): void;
  conv2dBackpropFilter(x: Float32Array, dy: Float32Array, dfilter: Float32Array, geometry: Int32Array): void;
  /** Depthwise, channel multiplier 1: the conv geometry with out_c = in_c, filter [k_h, k_w, in_c]. */
  depthwiseConv2d(x: Float32Array, filter: Float32Array, y: Float32Array, geometry: Int32Array): void;
  depthwiseConv2dBackpropInput(
    dy: Float32Array,
    filter: Float32Array,
    dx: Float32Array,
    geometry: Int32Array,
  ): void;
  depthwiseConv2dBackpropFilter(
    x: Float32Array,
    dy: Float32Array,
    dfilter: Float32Array,
    geometry: Int32Array,
  ): void;
  /** out[b, o, j, :] = x[b, o, indices[b, j], :] for x (batch, outer, dim, slice); every index in [0, dim). */
  gather(
    x: Float32Array,
    indices: Int32Array,
    out: Float32Array,
    batch: number,
    outer: number,
    dim: number,
    slice: number,
  ): void;
  /** out[s, :] = Σ x[r, :] over rows with segmentIds[r] = s, in row order; other ids drop their rows. */
  unsortedSegmentSum(
    x: Float32Array,
    segmentIds: Int32Array,
    out: Float32Array,
    numSegments: number,
    inner: number,
  ): void;
  /** LayerNorm over the last axis: x, y (rows, cols); gamma, beta (cols); mean, rstd (rows) written. */
  layerNorm(
    x: Float32Array,
    gamma: Float32Array,
    beta: Float32Array,
    y: Float32Array,
    mean: Float32Array,
    rstd: Float32Array,
    eps: number,
  ): void;
  layerNormGrad(
    dy: Float32Array,
    x: Float32Array,
    gamma: Float32Array,
    mean: Float32Array,
    rstd: Float32Array,
    dx: Float32Array | null,
    dgamma: Float32Array | null,
    dbeta: Float32Array | null,
  ): void;
  /** GroupNorm of channels-last x [batch, spatial, channels]; mean, rstd [batch, groups] written. */
  groupNorm(
    x: Float32Array,
    gamma: Float32Array,
    beta: Float32Array,
    y: Float32Array,
    mean: Float32Array,
    rstd: Float32Array,
    batch: number,
    groups: number,
    eps: number,
  ): void;
  groupNormGrad(
    dy: Float32Array,
    x: Float32Array,
    gamma: Float32Array,
    mean: Float32Array,
    rstd: Float32Array,
    dx: Float32Array | null,
    dgamma: Float32Array | null,
    dbeta: Float32Array | null,
    batch: number,
    groups: number,
  ): void;
  /** An activation (0 exact GELU, 1 QuickGELU) and its gradient. */
  activation(kind: number, x: Float32Array, y: Float32Array): void;
  activationGrad(kind: number, dy: Float32Array, x: Float32Array, dx: Float32Array): void;
  /** Σ x² in double, in fixed chunks (see native/src/optimizer.cc). */
  sumOfSquares(x: Float32Array): number;
  /** AdamW in place on param, expAvg and expAvgSq (see src/engine/kernels/optimizer.ts). */
  adamw(
    param: Float32Array,
    grad: Float32Array,
    expAvg: Float32Array,
    expAvgSq: Float32Array,
    gradientScale: number,
    beta1: number,
    beta2: number,
    decayFactor: number,
    biasCorrection2Sqrt: number,
    eps: number,
    stepSize: number,
  ): void;
  setNumThreads(n: number): void;
  numThreads(): number;
}

/** The ABI the TypeScript side expects; a binary with another one is stale and is not used. */
export const NATIVE_ABI_VERSION = 6;

export type NativeLoad = { pack: NativePack; path: string } | { pack: null; reason: string };

const NATIVE_DIR = new URL("../../../native/", import.meta.url);

/** Which build this CPU can run, from /proc/cpuinfo flags (Linux x64 only). */
export function cpuVariant(cpuinfo?: string): "x86-64-v4" | "x86-64-v3" | null {
  const text = cpuinfo ?? (existsSync("/proc/cpuinfo") ? readFileSync("/proc/cpuinfo", "utf8") : "");
  const flags = new Set((text.match(/^flags\s*:(.*)$/m)?.[1] ?? "").trim().split(/\s+/));
  if (["avx512f", "avx512bw", "avx512vl", "avx512dq", "avx2", "fma"].every((f) => flags.has(f)))
    return "x86-64-v4";
  if (["avx2", "fma", "bmi2"].every((f) => flags.has(f))) return "x86-64-v3";
  return null;
}

export function loadNativePack(env: NodeJS.ProcessEnv = process.env): NativeLoad {
  if (env["SSEG_NATIVE"] === "0") return { pack: null, reason: "disabled by SSEG_NATIVE=0" };
  if (process.platform !== "linux" || process.arch !== "x64")
    return { pack: null, reason: `no native build for ${process.platform}-${process.arch} (only linux-x64)` };
  const variant = cpuVariant();
  if (!variant) return { pack: null, reason: "this CPU lacks AVX2+FMA, which the native build needs" };
  const candidates = [
    new URL(`build/sseg-native-${variant}.node`, NATIVE_DIR).pathname,
    new URL(`prebuilt/linux-x64/sseg-native-${variant}.node`, NATIVE_DIR).pathname,
  ];
  const failures: string[] = [];
  const require = createRequire(import.meta.url);
  for (const path of candidates) {
    if (!existsSync(path)) continue;
    try {
      const pack = require(path) as NativePack;
      if (pack.abiVersion !== NATIVE_ABI_VERSION) {
        failures.push(
          `${path}: ABI ${pack.abiVersion}, expected ${NATIVE_ABI_VERSION} (rebuild: npm run build:native)`,
        );
        continue;
      }
      return { pack, path };
    } catch (err) {
      failures.push(`${path}: ${(err as Error).message}`);
    }
  }
  if (failures.length === 0)
    return { pack: null, reason: `no native build found (run npm run build:native)` };
  return { pack: null, reason: failures.join("; ") };
}
