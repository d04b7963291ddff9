/**
 * Fused LayerNorm and exact GELU, forward and backward, as kernels of our own with their gradients registered:
 * one native pass each where tfjs runs a chain of element-wise kernels (LayerNorm's forward and backward were
 * ~15 kernels on the full activation). `layerNorm()` and `gelu()` use them on the cpu backend while the native
 * kernels are on, and tfjs ops otherwise (other backends, or the stock path the tests compare against).
 */
import * as tf from "@tensorflow/tfjs";
import type { NativePack } from "../native.js";
import { floatValues, installKernel, nativeKernelsEnabled, output, sizeOf } from "./registry.js";

const LAYER_NORM = "SsegLayerNorm";
const LAYER_NORM_GRAD = "SsegLayerNormGrad";
const GELU = "SsegGelu";
const GELU_GRAD = "SsegGeluGrad";

let installed = false;

function fused(x: tf.Tensor): boolean {
  return (
    installed && nativeKernelsEnabled() && tf.getBackend() === "cpu" && x.dtype === "float32" && x.size > 0
  );
}

/** (x − mean)·rsqrt(var + eps)·γ + β over the last axis, biased variance (torch.nn.LayerNorm). */
export function layerNorm(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, eps: number): tf.Tensor {
  if (fused(x)) {
    const [y] = tf.engine().runKernel(LAYER_NORM, { x, gamma, beta }, { eps }) as tf.Tensor[];
    return y;
  }
  return tf.tidy(() => {
    const { mean, variance } = tf.moments(x, -1, true);
    return x
      .sub(mean)
      .mul(tf.rsqrt(variance.add(eps)))
      .mul(gamma)
      .add(beta);
  });
}

/** Exact GELU, x·Φ(x), as torch.nn.GELU(). */
export function gelu(x: tf.Tensor): tf.Tensor {
  if (fused(x)) return tf.engine().runKernel(GELU, { x }) as tf.Tensor;
  return tf.tidy(() => x.mul(tf.erf(x.mul(Math.SQRT1_2)).add(1)).mul(0.5));
}

const asTensor = (info: tf.TensorInfo) => tf.engine().makeTensorFromTensorInfo(info);

export function installNormKernels(pack: NativePack): void {
  installKernel(
    LAYER_NORM,
    ({ inputs, backend, attrs }) => {
      const x = floatValues(backend, inputs.x);
      const gamma = floatValues(backend, inputs.gamma);
      const beta = floatValues(backend, inputs.beta);
      const shape = inputs.x.shape;
      if (!x || !gamma || !beta || sizeOf(shape) === 0 || gamma.length !== shape[shape.length - 1])
        return null;
      const rows = x.length / gamma.length;
      const [y, mean, rstd] = [new Float32Array(x.length), new Float32Array(rows), new Float32Array(rows)];
      pack.layerNorm(x, gamma, beta, y, mean, rstd, attrs.eps as number);
      const rowShape = shape.slice(0, -1);
      return [
        output(backend, [...shape], y),
        output(backend, rowShape, mean),
        output(backend, rowShape, rstd),
      ] as never;
    },
    // our own kernel: its stock version is the same arithmetic in tfjs ops
    ({ inputs, attrs }) =>
      tf.tidy(() => {
        const x = asTensor(inputs.x!);
        const { mean, variance } = tf.moments(x, -1, false);
        const rstd = tf.rsqrt(variance.add((attrs?.eps as number) ?? 1e-5));
        const xhat = x.sub(mean.expandDims(-1)).mul(rstd.expandDims(-1));
        return [xhat.mul(asTensor(inputs.gamma!)).add(asTensor(inputs.beta!)), mean, rstd];
      }) as never,
  );
  // one gradient per input (attribute `part`), each its own kernel call: tfjs runs every input's gradient in
  // its own tidy, so one call returning all three would see two of them disposed
  installKernel(
    LAYER_NORM_GRAD,
    ({ inputs, backend, attrs }) => {
      const [dy, x, gamma, mean, rstd] = ["dy", "x", "gamma", "mean", "rstd"].map((k) =>
        floatValues(backend, inputs[k]),
      );
      if (!dy || !x || !gamma || !mean || !rstd) return null;
      const part = attrs.part as "x" | "gamma" | "beta";
      const out = new Float32Array(part === "x" ? x.length : gamma.length);
      pack.layerNormGrad(
        dy,
        x,
        gamma,
        mean,
        rstd,
        part === "x" ? out : null,
        part === "gamma" ? out : null,
        part === "beta" ? out : null,
      );
      return output(backend, part === "x" ? [...inputs.x.shape] : [gamma.length], out);
    },
    ({ inputs, attrs }) =>
      tf.tidy(() => {
        const [dy, x, gamma] = [asTensor(inputs.dy!), asTensor(inputs.x!), asTensor(inputs.gamma!)];
        const rstd = asTensor(inputs.rstd!).expandDims(-1);
        const xhat = x.sub(asTensor(inputs.mean!).expandDims(-1)).mul(rstd);
        const flat = (t: tf.Tensor) => t.reshape([sizeOf(x.shape) / gamma.size, gamma.size]);
        if (attrs?.part === "gamma") return flat(dy.mul(xhat)).sum(0);
        if (attrs?.part === "beta") return flat(dy).sum(0);
        const g = dy.mul(gamma);
        return g
          .sub(g.mean(-1, true))
          .sub(xhat.mul(g.mul(xhat).mean(-1, true)))
          .mul(rstd);
      }),
  );
  tf.registerGradient({
    kernelName: LAYER_NORM,
    inputsToSave: ["x", "gamma"],
    outputsToSave: [false, true, true],
    gradFunc: (dys, saved) => {
      const dy = Array.isArray(dys) ? dys[0] : dys;
      const [x, gamma, mean, rstd] = saved;
      const part = (name: string) => () =>
        tf.engine().runKernel(LAYER_NORM_GRAD, { dy, x, gamma, mean, rstd }, { part: name }) as tf.Tensor;
      return { x: part("x"), gamma: part("gamma"), beta: part("beta") };
    },
  });
  installKernel(
    GELU,
    ({ inputs, backend }) => {
      const x = floatValues(backend, inputs.x);
      if (!x) return null;
      const y = new Float32Array(x.length);
      pack.gelu(x, y);
      return output(backend, [...inputs.x.shape], y);
    },
    ({ inputs }) =>
      tf.tidy(() => {
        const x = asTensor(inputs.x!);
        return x.mul(tf.erf(x.mul(Math.SQRT1_2)).add(1)).mul(0.5);
      }),
  );
  installKernel(
    GELU_GRAD,
    ({ inputs, backend }) => {
      const dy = floatValues(backend, inputs.dy);
      const x = floatValues(backend, inputs.x);
      if (!dy || !x) return null;
      const dx = new Float32Array(x.length);
      pack.geluGrad(dy, x, dx);
      return output(backend, [...inputs.x.shape], dx);
    },
    ({ inputs }) =>
      tf.tidy(() => {
        const [dy, x] = [asTensor(inputs.dy!), asTensor(inputs.x!)];
        const cdf = tf.erf(x.mul(Math.SQRT1_2)).add(1).mul(0.5);
        const pdf = tf.exp(x.square().mul(-0.5)).mul(1 / Math.sqrt(2 * Math.PI));
        return dy.mul(cdf.add(x.mul(pdf)));
      }),
  );
  tf.registerGradient({
    kernelName: GELU,
    inputsToSave: ["x"],
    gradFunc: (dy, [x]) => ({
      x: () => tf.engine().runKernel(GELU_GRAD, { dy: dy as tf.Tensor, x }) as tf.Tensor,
    }),
  });
  installed = true;
}
