/**
 * The optimiser's two kernels: a gradient's sum of squares and AdamW in place. On tfjs's cpu backend they work on
 * the tensors' own buffers (the native pack when installed, else the same arithmetic in JavaScript), so a step
 * allocates no tensor; on other backends the parameter is read, updated and written back. Both implementations
 * give the same bits: AdamW op by op in float32 (Math.fround after each JavaScript operation, no FMA in the
 * native build), the sum of squares in double over fixed chunks added in order.
 */
import * as tf from "@tensorflow/tfjs";
import type { NativePack } from "../native.js";
import { type CpuBackend, floatValues, kernelCalls, nativeKernelsEnabled } from "./registry.js";

/** native/src/kernels.h kSumChunk. */
const SUM_CHUNK = 65536;

let pack: NativePack | null = null;

export function installOptimizerKernels(native: NativePack): void {
  pack = native;
  for (const name of ["AdamW", "SumOfSquares"]) kernelCalls.set(name, { native: 0, fallback: 0 });
}

function count(name: string, native: boolean): void {
  const counts = kernelCalls.get(name);
  if (counts) counts[native ? "native" : "fallback"]++;
}

/** The hyper-parameters of one AdamW update of one parameter, in double (each rounded to float32 once). */
export interface AdamWUpdate {
  /** The clipping factor (1: none). */
  gradientScale: number;
  beta1: number;
  beta2: number;
  /** 1 − lr·weight decay (1: none). */
  decayFactor: number;
  /** √(1 − β₂^step). */
  biasCorrection2Sqrt: number;
  eps: number;
  /** lr / (1 − β₁^step). */
  stepSize: number;
}

function native(): NativePack | null {
  return pack && nativeKernelsEnabled() ? pack : null;
}

/** A float32 tensor's own buffer on the cpu backend when nothing else shares it, else null. */
function ownBuffer(t: tf.Tensor): Float32Array | null {
  if (tf.getBackend() !== "cpu") return null;
  const backend = tf.backend() as unknown as CpuBackend;
  const entry = backend.data.get(t.dataId) as { values: unknown; refCount?: number };
  if ((entry.refCount ?? 1) > 1) return null;
  return floatValues(backend, t);
}

/** Σ x² of a tensor, in double. */
export function sumOfSquares(t: tf.Tensor): number {
  const values = (ownBuffer(t) ?? t.dataSync()) as Float32Array;
  const kernels = native();
  count("SumOfSquares", kernels !== null);
  if (kernels) return kernels.sumOfSquares(values);
  let total = 0;
  for (let start = 0; start < values.length; start += SUM_CHUNK) {
    let sum = 0;
    const end = Math.min(values.length, start + SUM_CHUNK);
    for (let i = start; i < end; i++) sum += values[i] * values[i];
    total += sum;
  }
  return total;
}

/** AdamW on `variable` and its moments (updated in place), from `gradient`. */
export function adamwUpdate(
  variable: tf.Variable,
  gradient: tf.Tensor,
  expAvg: Float32Array,
  expAvgSq: Float32Array,
  u: AdamWUpdate,
): void {
  const inPlace = ownBuffer(variable);
  const param = inPlace ?? Float32Array.from(variable.dataSync() as Float32Array);
  const grad = gradient.dataSync() as Float32Array;
  const kernels = native();
  count("AdamW", kernels !== null && inPlace !== null);
  if (kernels && inPlace)
    kernels.adamw(
      param,
      grad,
      expAvg,
      expAvgSq,
      u.gradientScale,
      u.beta1,
      u.beta2,
      u.decayFactor,
      u.biasCorrection2Sqrt,
      u.eps,
      u.stepSize,
    );
  else adamwJs(param, grad, expAvg, expAvgSq, u);
  if (!inPlace) tf.tidy(() => variable.assign(tf.tensor(param, variable.shape, "float32")));
}

/** native/src/optimizer.cc's adamw, operation for operation. */
function adamwJs(
  param: Float32Array,
  grad: Float32Array,
  m: Float32Array,
  v: Float32Array,
  u: AdamWUpdate,
): void {
  const f = Math.fround;
  const [scale, beta1, oneMinusBeta1] = [f(u.gradientScale), f(u.beta1), f(1 - u.beta1)];
  const [beta2, oneMinusBeta2, decay] = [f(u.beta2), f(1 - u.beta2), f(u.decayFactor)];
  const [bc2, eps, stepSize] = [f(u.biasCorrection2Sqrt), f(u.eps), f(u.stepSize)];
  for (let i = 0; i < param.length; i++) {
    const g = u.gradientScale !== 1 ? f(grad[i] * scale) : grad[i];
    const mi = f(f(m[i] * beta1) + f(g * oneMinusBeta1));
    const vi = f(f(v[i] * beta2) + f(f(g * g) * oneMinusBeta2));
    const decayed = u.decayFactor !== 1 ? f(param[i] * decay) : param[i];
    const denominator = f(f(f(Math.sqrt(vi)) / bc2) + eps);
    m[i] = mi;
    v[i] = vi;
    param[i] = f(decayed - f(f(mi / denominator) * stepSize));
  }
}
