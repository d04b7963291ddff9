/**
 * PadV2 (constant padding) as one bulk copy per innermost row. tfjs's cpu kernel maps every element through
 * generic index arithmetic and was ~12 ms for a 384×384 weight-slice gradient.
 */
import { floatValues, installKernel, output, sizeOf, stridesOf } from "./registry.js";

export function installPadKernel(): void {
  installKernel("PadV2", ({ inputs, backend, attrs }) => {
    const x = floatValues(backend, inputs.x);
    const paddings = attrs.paddings as [number, number][];
    const shape = [...inputs.x.shape];
    if (!x || shape.length === 0 || paddings.some(([before, after]) => before < 0 || after < 0)) return null;
    const outShape = shape.map((d, i) => paddings[i][0] + d + paddings[i][1]);
    const out = new Float32Array(sizeOf(outShape));
    const value = (attrs.constantValue as number) ?? 0;
    if (value !== 0) out.fill(value);
    const rank = shape.length;
    const inner = shape[rank - 1];
    const outStrides = stridesOf(outShape);
    const rows = x.length / Math.max(inner, 1);
    for (let row = 0; row < rows && inner > 0; row++) {
      let rest = row;
      let offset = paddings[rank - 1][0];
      for (let d = rank - 2; d >= 0; d--) {
        offset += ((rest % shape[d]) + paddings[d][0]) * outStrides[d];
        rest = Math.floor(rest / shape[d]);
      }
      out.set(x.subarray(row * inner, (row + 1) * inner), offset);
    }
    return output(backend, outShape, out);
  });
}
