/**
 * Softmax over the last axis in one native pass, and a fused gradient y·(dy − Σ dy·y) that replaces
 * tfjs's four-op gradient (two broadcasting multiplies, a sum and a subtract on the full attention map).
 */
import * as tf from "@tensorflow/tfjs";
import type { NativePack } from "../native.js";
import { floatValues, installKernel, nativeKernelsEnabled, output, sizeOf } from "./registry.js";

export const SOFTMAX_GRAD = "SsegSoftmaxGrad";

function lastAxis(dim: unknown, rank: number): boolean {
  return dim === -1 || dim === rank - 1;
}

export function installSoftmaxKernels(pack: NativePack): void {
  installKernel("Softmax", ({ inputs, backend, attrs }) => {
    const x = floatValues(backend, inputs.logits);
    const shape = inputs.logits.shape;
    if (!x || !lastAxis(attrs.dim, shape.length) || sizeOf(shape) === 0) return null;
    const cols = shape[shape.length - 1];
    const out = new Float32Array(x.length);
    pack.softmax(x, out, x.length / cols, cols);
    return output(backend, [...shape], out);
  });
  installKernel(
    SOFTMAX_GRAD,
    ({ inputs, backend }) => {
      const y = floatValues(backend, inputs.y);
      const dy = floatValues(backend, inputs.dy);
      const shape = inputs.y.shape;
      if (!y || !dy || sizeOf(shape) === 0) return null;
      const cols = shape[shape.length - 1];
      const dx = new Float32Array(y.length);
      pack.softmaxGrad(y, dy, dx, y.length / cols, cols);
      return output(backend, [...shape], dx);
    },
    // Our own kernel: its stock version is tfjs's gradient formula.
    ({ inputs }) =>
      tf.tidy(() => {
        const y = tf.engine().makeTensorFromTensorInfo(inputs.y!);
        const dy = tf.engine().makeTensorFromTensorInfo(inputs.dy!);
        const dyTimesY = dy.mul(y);
        return dyTimesY.sub(dyTimesY.sum(-1, true).mul(y));
      }),
  );
  const stock = tf.getGradient("Softmax");
  if (!stock) throw new Error("tfjs has no Softmax gradient to replace");
  tf.registerGradient({
    ...stock,
    gradFunc: (dy, saved, attrs) => {
      const [y] = saved;
      const { dim } = attrs as { dim: number };
      if (!nativeKernelsEnabled() || !lastAxis(dim, y.rank)) return stock.gradFunc(dy, saved, attrs);
      return { logits: () => tf.engine().runKernel(SOFTMAX_GRAD, { y, dy: dy as tf.Tensor }) as tf.Tensor };
    },
  });
}
