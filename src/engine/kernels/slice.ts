/**
 * Slice and SplitV as one bulk copy per innermost row. tfjs's cpu kernel copies a non-contiguous slice element by element
 * through generic index arithmetic: ~1 s to drop the CLS token of a [16, 257, 192] ViT output, ~2 s for a quarter
 * of the channels of a [16, 32, 32, 512] map.
 */
import * as tf from "@tensorflow/tfjs";
import { floatValues, installKernel, output, sizeOf, stridesOf } from "./registry.js";

/** The values of x[begin : begin + size] (sizes resolved, in bounds), row by innermost row. */
function sliceValues(
  x: Float32Array,
  shape: readonly number[],
  begin: readonly number[],
  size: readonly number[],
): Float32Array {
  const out = new Float32Array(sizeOf(size));
  const rank = shape.length;
  const inner = size[rank - 1];
  if (out.length === 0) return out;
  const strides = stridesOf(shape);
  const index = new Array<number>(rank - 1).fill(0); // position in the output's outer dimensions
  const rows = out.length / inner;
  for (let row = 0; row < rows; row++) {
    let offset = begin[rank - 1];
    for (let d = 0; d < rank - 1; d++) offset += (begin[d] + index[d]) * strides[d];
    out.set(x.subarray(offset, offset + inner), row * inner);
    for (let d = rank - 2; d >= 0; d--) {
      if (++index[d] < size[d]) break;
      index[d] = 0;
    }
  }
  return out;
}

export function installSliceKernels(): void {
  installKernel("Slice", ({ inputs, backend, attrs }) => {
    const x = floatValues(backend, inputs.x);
    const shape = [...inputs.x.shape];
    if (!x || shape.length === 0) return null;
    const [begin, size] = tf.slice_util.parseSliceParams(
      inputs.x as tf.Tensor,
      attrs.begin as number | number[],
      attrs.size as number | number[] | undefined,
    );
    if (size.some((d, i) => d < 0 || begin[i] < 0 || begin[i] + d > shape[i])) return null; // tfjs reports it
    return output(backend, size, sliceValues(x, shape, begin, size));
  });
  // tfjs's SplitV (the gradient of a concatenation) calls its slow slice directly, so it needs its own
  installKernel("SplitV", ({ inputs, backend, attrs }) => {
    const x = floatValues(backend, inputs.x);
    const shape = [...inputs.x.shape];
    if (!x || shape.length === 0) return null;
    const axis = tf.util.parseAxisParam(attrs.axis as number, shape)[0];
    const sizes = tf.backend_util.prepareSplitSize(
      inputs.x as tf.Tensor,
      attrs.numOrSizeSplits as number | number[],
      axis,
    );
    if (sizes.reduce((a, b) => a + b, 0) !== shape[axis] || sizes.some((s) => s < 0)) return null;
    const begin = new Array<number>(shape.length).fill(0);
    return sizes.map((s) => {
      const size = [...shape];
      size[axis] = s;
      const piece = output(backend, size, sliceValues(x, shape, begin, size));
      begin[axis] += s;
      return piece;
    });
  });
}
