/** BatchMatMul and _FusedMatMul (bias + activation) on the native GEMM, with batch broadcasting. */
import type * as tf from "@tensorflow/tfjs";
import type { NativePack } from "../native.js";
import {
  broadcastShapes,
  broadcastStrides,
  type CpuBackend,
  floatValues,
  installKernel,
  output,
  sizeOf,
} from "./registry.js";

/** The addon's activation codes; prelu stays with tfjs. */
const ACTIVATIONS: Record<string, number> = {
  linear: 0,
  relu: 1,
  relu6: 2,
  sigmoid: 3,
  elu: 4,
  leakyrelu: 5,
};

function matmul(
  pack: NativePack,
  backend: CpuBackend,
  a: tf.TensorInfo,
  b: tf.TensorInfo,
  transposeA: boolean,
  transposeB: boolean,
  bias: Float32Array | null = null,
  activation = 0,
  alpha = 0,
): tf.TensorInfo | null {
  const av = floatValues(backend, a);
  const bv = floatValues(backend, b);
  const ra = a.shape.length;
  const rb = b.shape.length;
  if (!av || !bv || ra < 2 || rb < 2) return null;
  const m = transposeA ? a.shape[ra - 1] : a.shape[ra - 2];
  const k = transposeA ? a.shape[ra - 2] : a.shape[ra - 1];
  const kb = transposeB ? b.shape[rb - 1] : b.shape[rb - 2];
  const n = transposeB ? b.shape[rb - 2] : b.shape[rb - 1];
  if (k !== kb) return null; // tfjs raises its own error
  const batchA = a.shape.slice(0, -2);
  const batchB = b.shape.slice(0, -2);
  const batchShape = broadcastShapes(batchA, batchB);
  if (!batchShape || m === 0 || n === 0) return null;
  const batch = sizeOf(batchShape);
  const sa = broadcastStrides(batchA, batchShape);
  const sb = broadcastStrides(batchB, batchShape);
  const aOffsets = new Int32Array(batch);
  const bOffsets = new Int32Array(batch);
  for (let i = 0; i < batch; i++) {
    let rest = i;
    let oa = 0;
    let ob = 0;
    for (let d = batchShape.length - 1; d >= 0; d--) {
      const idx = rest % batchShape[d];
      rest = Math.floor(rest / batchShape[d]);
      oa += idx * sa[d];
      ob += idx * sb[d];
    }
    aOffsets[i] = oa * m * k;
    bOffsets[i] = ob * k * n;
  }
  const out = new Float32Array(batch * m * n);
  pack.gemm(av, bv, out, aOffsets, bOffsets, m, n, k, transposeA, transposeB, bias, activation, alpha);
  return output(backend, [...batchShape, m, n], out);
}

export function installMatmulKernels(pack: NativePack): void {
  installKernel("BatchMatMul", ({ inputs, backend, attrs }) =>
    matmul(pack, backend, inputs.a, inputs.b, attrs.transposeA as boolean, attrs.transposeB as boolean),
  );
  installKernel("_FusedMatMul", ({ inputs, backend, attrs }) => {
    const activation = ACTIVATIONS[(attrs.activation as string) ?? "linear"];
    if (activation === undefined || inputs.preluActivationWeights) return null;
    let bias: Float32Array | null = null;
    if (inputs.bias) {
      bias = floatValues(backend, inputs.bias);
      const n = (attrs.transposeB as boolean) ? inputs.b.shape.at(-2)! : inputs.b.shape.at(-1)!;
      const size = sizeOf(inputs.bias.shape);
      const rank = Math.max(inputs.a.shape.length, inputs.b.shape.length);
      const lastAxisOnly =
        inputs.bias.shape.length <= rank && inputs.bias.shape.slice(0, -1).every((d) => d === 1);
      if (!bias || !(size === 1 || (size === n && lastAxisOnly))) return null;
    }
    return matmul(
      pack,
      backend,
      inputs.a,
      inputs.b,
      attrs.transposeA as boolean,
      attrs.transposeB as boolean,
      bias,
      activation,
      (attrs.leakyreluAlpha as number) ?? 0.2,
    );
  });
}
