/**
 * GatherV2 and its gradient, UnsortedSegmentSum. tfjs's cpu segment sum loops over every segment (every row
 * of the table) for every input row, so differentiating a lookup into a large table took minutes; the native
 * kernel adds each row once, and keeps NaN and ±Inf in their own segment (the stock kernel's 0/1 mask spreads
 * them to every segment). The stock gather computes every element's coordinates; the native one copies rows.
 */
import * as tf from "@tensorflow/tfjs";
import type { NativePack } from "../native.js";
import { type CpuBackend, floatValues, installKernel, output, sizeOf } from "./registry.js";

function intValues(backend: CpuBackend, t: tf.TensorInfo): Int32Array | null {
  const values = backend.data.get(t.dataId).values;
  return t.dtype === "int32" && values instanceof Int32Array ? values : null;
}

export function installSegmentKernels(pack: NativePack): void {
  installKernel("GatherV2", ({ inputs, backend, attrs }) => {
    const x = floatValues(backend, inputs.x);
    const indices = intValues(backend, inputs.indices);
    if (!x || !indices || x.length === 0 || indices.length === 0) return null;
    const axis = tf.util.parseAxisParam(attrs.axis as number, inputs.x.shape)[0];
    const { batchSize, outerSize, dimSize, sliceSize, outputShape } =
      tf.backend_util.segment_util.collectGatherOpShapeInfo(
        inputs.x,
        inputs.indices,
        axis,
        (attrs.batchDims as number | undefined) ?? 0,
      );
    // An index out of range: the stock kernel throws its own error.
    for (const index of indices) if (index < 0 || index >= dimSize) return null;
    const out = new Float32Array(sizeOf(outputShape));
    pack.gather(x, indices, out, batchSize, outerSize, dimSize, sliceSize);
    return output(backend, outputShape, out);
  });
  installKernel("UnsortedSegmentSum", ({ inputs, backend, attrs }) => {
    const x = floatValues(backend, inputs.x);
    const segmentIds = intValues(backend, inputs.segmentIds);
    const numSegments = attrs.numSegments as number;
    const shape = inputs.x.shape;
    // One id per row of x; tfjs broadcasts ids of other shapes against x: those stay with the stock kernel.
    if (!x || !segmentIds || x.length === 0 || numSegments < 1) return null;
    if (inputs.segmentIds.shape.length !== 1 || segmentIds.length !== shape[0]) return null;
    const inner = sizeOf(shape.slice(1));
    const out = new Float32Array(numSegments * inner);
    pack.unsortedSegmentSum(x, segmentIds, out, numSegments, inner);
    return output(backend, [numSegments, ...shape.slice(1)], out);
  });
}
