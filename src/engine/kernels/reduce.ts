/** Sum/Mean/Max/Min/Prod over any axes: reduced axes that form one block reduce in place, others after a transpose. */
import * as tf from "@tensorflow/tfjs";
import type { NativePack } from "../native.js";
import { floatValues, installKernel, type NativeKernel, output, sizeOf } from "./registry.js";
import { simplifyTranspose } from "./transpose.js";

/** tfjs kernel name → [the addon's ReduceOp code, the attribute holding the axes]. */
const REDUCTIONS: Record<string, [number, string]> = {
  Sum: [0, "axis"],
  Mean: [1, "axis"],
  Max: [2, "reductionIndices"],
  Min: [3, "axis"],
  Prod: [4, "axis"],
};

function reduceKernel(pack: NativePack, op: number, axisAttr: string): NativeKernel {
  return ({ inputs, backend, attrs }) => {
    const xv = floatValues(backend, inputs.x);
    const shape = [...inputs.x.shape];
    if (!xv || sizeOf(shape) === 0) return null;
    // A null axis attribute means every axis.
    const axes = tf.util.parseAxisParam(attrs[axisAttr] as number | number[], shape).sort((a, b) => a - b);
    const outShape = attrs.keepDims
      ? shape.map((d, i) => (axes.includes(i) ? 1 : d))
      : shape.filter((_, i) => !axes.includes(i));
    const reduced = axes.reduce((s, a) => s * shape[a], 1);
    if (reduced === 0) return null;
    let x = xv;
    let outer: number;
    let inner: number;
    if (axes.every((a, i) => a === axes[0] + i)) {
      outer = sizeOf(shape.slice(0, axes[0]));
      inner = sizeOf(shape.slice(axes[axes.length - 1] + 1));
    } else {
      // Move the reduced axes last, then reduce rows.
      const perm = [...shape.keys()].filter((i) => !axes.includes(i)).concat(axes);
      const simple = simplifyTranspose(shape, perm);
      x = new Float32Array(xv.length);
      pack.transpose(xv, x, Int32Array.from(simple.shape), Int32Array.from(simple.perm));
      outer = xv.length / reduced;
      inner = 1;
    }
    const out = new Float32Array(outer * inner);
    pack.reduce(op, x, out, outer, reduced, inner);
    return output(backend, outShape, out);
  };
}

export function installReduceKernels(pack: NativePack): void {
  for (const [name, [op, axisAttr]] of Object.entries(REDUCTIONS))
    installKernel(name, reduceKernel(pack, op, axisAttr));
}
