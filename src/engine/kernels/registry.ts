/**
 * Swapping kernels of tfjs's `cpu` backend through its kernel registry. Each native kernel wraps the original:
 * it returns null for any case it does not handle (dtype, shape, attribute), and the original runs instead.
 * A switch turns every native kernel off at once, so tests compare both paths in one process.
 */
import * as tf from "@tensorflow/tfjs";

/** The parts of tfjs's MathBackendCPU the kernels touch. */
export interface CpuBackend {
  data: { get(dataId: object): { values: unknown } };
  makeTensorInfo(shape: number[], dtype: tf.DataType, values: Float32Array): tf.TensorInfo;
}

export interface KernelArgs {
  inputs: Record<string, tf.TensorInfo>;
  backend: CpuBackend;
  attrs: Record<string, unknown>;
}

/** A native implementation: a result, or null to hand the call to the original kernel. */
export type NativeKernel = (args: KernelArgs) => tf.TensorInfo | tf.TensorInfo[] | null;

let enabled = true;
const originals = new Map<string, tf.KernelConfig>();
/** Calls per kernel that ran natively and that fell back, for tests and the profile. */
export const kernelCalls = new Map<string, { native: number; fallback: number }>();

export function setNativeKernelsEnabled(on: boolean): void {
  enabled = on;
}

export function nativeKernelsEnabled(): boolean {
  return enabled && originals.size > 0;
}

export function installedKernels(): string[] {
  return [...originals.keys()];
}

/** Replace the cpu kernel `name`; `fallback` stands in when tfjs has no kernel of that name (our own kernels). */
export function installKernel(name: string, native: NativeKernel, fallback?: tf.KernelFunc): void {
  if (originals.has(name)) return;
  const original =
    tf.getKernel(name, "cpu") ?? (fallback && { kernelName: name, backendName: "cpu", kernelFunc: fallback });
  if (!original) throw new Error(`tfjs has no cpu kernel "${name}" to replace`);
  const counts = { native: 0, fallback: 0 };
  kernelCalls.set(name, counts);
  if (tf.getKernel(name, "cpu")) tf.unregisterKernel(name, "cpu");
  tf.registerKernel({
    ...original,
    kernelFunc: (args) => {
      // Kernels without attributes get {} so native code can read attrs.x; others pass through uncopied.
      const withAttrs = args.attrs ? args : { ...args, attrs: {} };
      const out = enabled ? native(withAttrs as unknown as KernelArgs) : null;
      if (out) {
        counts.native++;
        return out;
      }
      counts.fallback++;
      return original.kernelFunc(args);
    },
  });
  originals.set(name, original);
}

/** The float32 values of a tensor, or null when it is not float32 (those cases stay with tfjs). */
export function floatValues(backend: CpuBackend, t: tf.TensorInfo): Float32Array | null {
  if (t.dtype !== "float32") return null;
  const values = backend.data.get(t.dataId).values;
  return values instanceof Float32Array ? values : null;
}

export function output(backend: CpuBackend, shape: number[], values: Float32Array): tf.TensorInfo {
  return backend.makeTensorInfo(shape, "float32", values);
}

export const sizeOf = (shape: readonly number[]) => shape.reduce((a, b) => a * b, 1);

/** Row-major element strides of a shape. */
export function stridesOf(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let d = shape.length - 1; d >= 0; d--) {
    strides[d] = s;
    s *= shape[d];
  }
  return strides;
}

/** numpy broadcasting of two shapes, or null when they are incompatible. */
export function broadcastShapes(a: readonly number[], b: readonly number[]): number[] | null {
  const rank = Math.max(a.length, b.length);
  const out = new Array<number>(rank);
  for (let i = 0; i < rank; i++) {
    const da = a[a.length - rank + i] ?? 1;
    const db = b[b.length - rank + i] ?? 1;
    if (da !== db && da !== 1 && db !== 1) return null;
    out[i] = da === 1 ? db : da;
  }
  return out;
}

/** Element strides of `shape` viewed as broadcast to `outShape` (0 along broadcast axes). */
export function broadcastStrides(shape: readonly number[], outShape: readonly number[]): number[] {
  const own = stridesOf(shape);
  const offset = outShape.length - shape.length;
  return outShape.map((_, d) => (d < offset || shape[d - offset] === 1 ? 0 : own[d - offset]));
}
