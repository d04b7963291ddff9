/** Broadcasting binary ops and unary math on the native element-wise kernels. */
import type { NativePack } from "../native.js";
import {
  broadcastShapes,
  broadcastStrides,
  floatValues,
  installKernel,
  type NativeKernel,
  output,
  sizeOf,
} from "./registry.js";

/** tfjs kernel name → the addon's BinaryOp code. */
const BINARY: Record<string, number> = {
  Add: 0,
  Sub: 1,
  Multiply: 2,
  RealDiv: 3,
  Maximum: 4,
  Minimum: 5,
  SquaredDifference: 6,
  Pow: 7,
};

/** tfjs kernel name → the addon's UnaryOp code. */
const UNARY: Record<string, number> = {
  Exp: 0,
  Log: 1,
  Tanh: 2,
  Sigmoid: 3,
  Erf: 4,
  Sqrt: 5,
  Rsqrt: 6,
  Square: 7,
  Neg: 8,
  Abs: 9,
  Relu: 10,
  Reciprocal: 11,
  Log1p: 12,
  Elu: 13,
  Relu6: 14,
  Sin: 15,
  Cos: 16,
  LeakyRelu: 17,
};

/**
 * Merge neighbouring axes that both operands traverse contiguously (or both broadcast), so that e.g.
 * (B, N, D) × (B, N, 1) becomes a (B·N, D) × (B·N, 0-stride) loop.
 */
function coalesce(shape: number[], sa: number[], sb: number[]): [number[], number[], number[]] {
  const outShape: number[] = [];
  const outA: number[] = [];
  const outB: number[] = [];
  for (let d = 0; d < shape.length; d++) {
    if (shape[d] === 1) continue;
    const last = outShape.length - 1;
    if (last >= 0 && outA[last] === sa[d] * shape[d] && outB[last] === sb[d] * shape[d]) {
      outShape[last] *= shape[d];
      outA[last] = sa[d];
      outB[last] = sb[d];
    } else {
      outShape.push(shape[d]);
      outA.push(sa[d]);
      outB.push(sb[d]);
    }
  }
  if (outShape.length === 0) return [[1], [0], [0]];
  return [outShape, outA, outB];
}

function binaryKernel(pack: NativePack, op: number): NativeKernel {
  return ({ inputs, backend }) => {
    const { a, b } = inputs;
    const av = floatValues(backend, a);
    const bv = floatValues(backend, b);
    const shape = broadcastShapes(a.shape, b.shape);
    if (!av || !bv || !shape || sizeOf(shape) === 0) return null;
    const [loopShape, sa, sb] = coalesce(
      shape,
      broadcastStrides(a.shape, shape),
      broadcastStrides(b.shape, shape),
    );
    const out = new Float32Array(sizeOf(shape));
    pack.binary(op, av, Int32Array.from(sa), bv, Int32Array.from(sb), out, Int32Array.from(loopShape));
    return output(backend, shape, out);
  };
}

function unaryKernel(pack: NativePack, op: number): NativeKernel {
  return ({ inputs, backend, attrs }) => {
    const x = floatValues(backend, inputs.x);
    if (!x) return null;
    const out = new Float32Array(x.length);
    pack.unary(op, x, out, (attrs.alpha as number) ?? 0);
    return output(backend, [...inputs.x.shape], out);
  };
}

export function installElementwiseKernels(pack: NativePack): void {
  for (const [name, op] of Object.entries(BINARY)) installKernel(name, binaryKernel(pack, op));
  for (const [name, op] of Object.entries(UNARY)) installKernel(name, unaryKernel(pack, op));
}
