/** Transpose as a native strided copy, after dropping unit axes and merging axes that stay adjacent. */
import type { NativePack } from "../native.js";
import { floatValues, installKernel, output, sizeOf } from "./registry.js";

/** Simplify (shape, perm) to an equivalent transpose of lower rank. */
export function simplifyTranspose(shape: number[], perm: number[]): { shape: number[]; perm: number[] } {
  const kept = perm.filter((axis) => shape[axis] !== 1); // unit axes move nothing
  const groups: number[][] = [];
  for (const axis of kept) {
    const last = groups[groups.length - 1];
    const prevAxis = last?.[last.length - 1];
    // Merge with the previous output axis if it is the next non-unit input axis.
    const nextInput = prevAxis === undefined ? -1 : nextNonUnit(shape, prevAxis);
    if (last && nextInput === axis) last.push(axis);
    else groups.push([axis]);
  }
  const order = [...groups].sort((g, h) => g[0] - h[0]);
  return {
    shape: order.map((g) => g.reduce((s, axis) => s * shape[axis], 1)),
    perm: groups.map((g) => order.indexOf(g)),
  };
}

function nextNonUnit(shape: number[], axis: number): number {
  for (let a = axis + 1; a < shape.length; a++) if (shape[a] !== 1) return a;
  return -1;
}

export function installTransposeKernel(pack: NativePack): void {
  installKernel("Transpose", ({ inputs, backend, attrs }) => {
    const x = floatValues(backend, inputs.x);
    const perm = attrs.perm as number[];
    const shape = [...inputs.x.shape];
    if (!x || sizeOf(shape) === 0) return null;
    const outShape = perm.map((axis) => shape[axis]);
    const simple = simplifyTranspose(shape, perm);
    const out = new Float32Array(x.length);
    if (simple.shape.length <= 1) out.set(x);
    else pack.transpose(x, out, Int32Array.from(simple.shape), Int32Array.from(simple.perm));
    return output(backend, outShape, out);
  });
}
