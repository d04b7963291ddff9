/**
 * Fused normalisations (LayerNorm, GroupNorm) and activations (exact GELU, CLIP's QuickGELU), forward and
 * backward, as kernels of our own with their gradients registered: one native pass each where tfjs runs a chain
 * of element-wise kernels (LayerNorm's forward and backward were ~15 kernels on the full activation). The
 * functions below use them on the cpu backend while the native kernels are on, and tfjs ops otherwise (other
 * backends, or the stock path the tests compare against); each kernel's stock version is that same tfjs math.
 */
import * as tf from "@tensorflow/tfjs";
import type { NativePack } from "../native.js";
import {
  type CpuBackend,
  floatValues,
  installKernel,
  nativeKernelsEnabled,
  output,
  sizeOf,
} from "./registry.js";

let pack: NativePack | null = null;

function fused(x: tf.Tensor): boolean {
  return (
    pack !== null &&
    nativeKernelsEnabled() &&
    tf.getBackend() === "cpu" &&
    x.dtype === "float32" &&
    x.size > 0
  );
}

const asTensor = (info: tf.TensorInfo) => tf.engine().makeTensorFromTensorInfo(info);

// ---- the tfjs math: the path off the native cpu backend, and each kernel's stock version ----

/** Normalised x over the axes whose statistics are shared: (x − mean)·rsqrt(var + eps), with mean and rstd. */
function standardize(grouped: tf.Tensor, axes: number[], eps: number) {
  const { mean, variance } = tf.moments(grouped, axes, true);
  const rstd = tf.rsqrt(variance.add(eps));
  return { xhat: grouped.sub(mean).mul(rstd), mean, rstd };
}

/** x [.., C] viewed as [B, H·W, G, C/G] for GroupNorm (LayerNorm: [rows, 1, 1, C]). */
function groupedView(x: tf.Tensor, groups: number | undefined): tf.Tensor4D {
  const c = x.shape[x.rank - 1];
  if (groups === undefined) return x.reshape([-1, 1, 1, c]);
  return x.reshape([x.shape[0], -1, groups, c / groups]);
}

/** Axes of the grouped view that share statistics: LayerNorm over C, GroupNorm over space and C/G. */
const statAxes = (groups: number | undefined) => (groups === undefined ? [3] : [1, 3]);

function normalizeStock(
  x: tf.Tensor,
  gamma: tf.Tensor,
  beta: tf.Tensor,
  eps: number,
  groups?: number,
): tf.Tensor {
  return tf.tidy(() => {
    const { xhat } = standardize(groupedView(x, groups), statAxes(groups), eps);
    return xhat.reshape(x.shape).mul(gamma).add(beta);
  });
}

/** The gradient of one input ("x", "gamma", "beta") of the normalisation, from saved mean and rstd. */
function normalizeGradStock(
  part: string,
  dy: tf.Tensor,
  x: tf.Tensor,
  gamma: tf.Tensor,
  mean: tf.Tensor,
  rstd: tf.Tensor,
  groups?: number,
): tf.Tensor {
  return tf.tidy(() => {
    const view = groupedView(x, groups);
    const statShape = view.shape.map((d, i) => (statAxes(groups).includes(i) ? 1 : d));
    const xhat = view.sub(mean.reshape(statShape)).mul(rstd.reshape(statShape)).reshape(x.shape);
    const c = gamma.size;
    const perChannel = (t: tf.Tensor) => t.reshape([-1, c]).sum(0);
    if (part === "gamma") return perChannel(dy.mul(xhat));
    if (part === "beta") return perChannel(dy);
    const g = groupedView(dy.mul(gamma), groups);
    const xh = groupedView(xhat, groups);
    const axes = statAxes(groups);
    return g
      .sub(g.mean(axes, true))
      .sub(xh.mul(g.mul(xh).mean(axes, true)))
      .mul(rstd.reshape(statShape))
      .reshape(x.shape);
  });
}

// ---- normalisations ----

const LAYER_NORM = "SsegLayerNorm";
const GROUP_NORM = "SsegGroupNorm";
const gradName = (kernel: string) => `${kernel}Grad`;

/** (x − mean)·rsqrt(var + eps)·γ + β over the last axis, biased variance (torch.nn.LayerNorm). */
export function layerNorm(x: tf.Tensor, gamma: tf.Tensor, beta: tf.Tensor, eps: number): tf.Tensor {
  if (!fused(x)) return normalizeStock(x, gamma, beta, eps);
  return (tf.engine().runKernel(LAYER_NORM, { x, gamma, beta }, { eps }) as tf.Tensor[])[0];
}

/** GroupNorm of channels-last maps [B, H, W, C], as torch.nn.GroupNorm(groups, C, eps) on NCHW. */
export function groupNorm(
  x: tf.Tensor4D,
  gamma: tf.Tensor,
  beta: tf.Tensor,
  groups: number,
  eps: number,
): tf.Tensor4D {
  if (!fused(x)) return normalizeStock(x, gamma, beta, eps, groups) as tf.Tensor4D;
  return (
    tf.engine().runKernel(GROUP_NORM, { x, gamma, beta }, { eps, groups }) as tf.Tensor[]
  )[0] as tf.Tensor4D;
}

interface NormalizationGeometry {
  /** Statistics per row of LayerNorm, per (image, group) of GroupNorm. */
  statShape: number[];
  batch: number;
  groups: number;
}

function geometry(
  kernel: string,
  shape: readonly number[],
  groups: number | undefined,
): NormalizationGeometry {
  if (kernel === LAYER_NORM) return { statShape: shape.slice(0, -1), batch: 0, groups: 0 };
  return { statShape: [shape[0], groups as number], batch: shape[0], groups: groups as number };
}

function installNormalization(kernel: string): void {
  const native = pack as NativePack;
  installKernel(
    kernel,
    ({ inputs, backend, attrs }) => {
      const [x, gamma, beta] = ["x", "gamma", "beta"].map((k) => floatValues(backend, inputs[k]));
      const shape = inputs.x.shape;
      if (!x || !gamma || !beta || gamma.length !== shape[shape.length - 1]) return null;
      const g = geometry(kernel, shape, attrs.groups as number | undefined);
      const stats = sizeOf(g.statShape);
      const [y, mean, rstd] = [new Float32Array(x.length), new Float32Array(stats), new Float32Array(stats)];
      const eps = attrs.eps as number;
      if (kernel === LAYER_NORM) native.layerNorm(x, gamma, beta, y, mean, rstd, eps);
      else native.groupNorm(x, gamma, beta, y, mean, rstd, g.batch, g.groups, eps);
      return [
        output(backend, [...shape], y),
        output(backend, g.statShape, mean),
        output(backend, g.statShape, rstd),
      ] as never;
    },
    ({ inputs, attrs }) =>
      tf.tidy(() => {
        const groups = attrs?.groups as number | undefined;
        const x = asTensor(inputs.x!);
        const { xhat, mean, rstd } = standardize(
          groupedView(x, groups),
          statAxes(groups),
          attrs?.eps as number,
        );
        const g = geometry(kernel, x.shape, groups);
        return [
          xhat.reshape(x.shape).mul(asTensor(inputs.gamma!)).add(asTensor(inputs.beta!)),
          mean.reshape(g.statShape),
          rstd.reshape(g.statShape),
        ];
      }) as never,
  );
  // one gradient per input (attribute `part`), each its own kernel call: tfjs runs every input's gradient in
  // its own tidy, so one call returning all three would see two of them disposed
  installKernel(
    gradName(kernel),
    ({ inputs, backend, attrs }) => {
      const [dy, x, gamma, mean, rstd] = ["dy", "x", "gamma", "mean", "rstd"].map((k) =>
        floatValues(backend, inputs[k]),
      );
      if (!dy || !x || !gamma || !mean || !rstd) return null;
      const part = attrs.part as string;
      const out = new Float32Array(part === "x" ? x.length : gamma.length);
      const [dx, dgamma, dbeta] = ["x", "gamma", "beta"].map((p) => (p === part ? out : null));
      if (kernel === LAYER_NORM) native.layerNormGrad(dy, x, gamma, mean, rstd, dx, dgamma, dbeta);
      else
        native.groupNormGrad(
          dy,
          x,
          gamma,
          mean,
          rstd,
          dx,
          dgamma,
          dbeta,
          inputs.x.shape[0],
          attrs.groups as number,
        );
      return output(backend, part === "x" ? [...inputs.x.shape] : [gamma.length], out);
    },
    ({ inputs, attrs }) =>
      normalizeGradStock(
        attrs?.part as string,
        ...(["dy", "x", "gamma", "mean", "rstd"].map((k) => asTensor(inputs[k]!)) as [
          tf.Tensor,
          tf.Tensor,
          tf.Tensor,
          tf.Tensor,
          tf.Tensor,
        ]),
        attrs?.groups as number | undefined,
      ),
  );
  tf.registerGradient({
    kernelName: kernel,
    inputsToSave: ["x", "gamma"],
    outputsToSave: [false, true, true],
    gradFunc: (dys, saved, attrs) => {
      const dy = Array.isArray(dys) ? dys[0] : dys;
      const [x, gamma, mean, rstd] = saved;
      const part = (name: string) => () =>
        tf
          .engine()
          .runKernel(gradName(kernel), { dy, x, gamma, mean, rstd }, { ...attrs, part: name }) as tf.Tensor;
      return { x: part("x"), gamma: part("gamma"), beta: part("beta") };
    },
  });
}

// ---- activations ----

const ACTIVATIONS = {
  SsegGelu: {
    kind: 0,
    forward: (x: tf.Tensor) => x.mul(tf.erf(x.mul(Math.SQRT1_2)).add(1)).mul(0.5),
    derivative: (x: tf.Tensor) =>
      tf
        .erf(x.mul(Math.SQRT1_2))
        .add(1)
        .mul(0.5)
        .add(x.mul(tf.exp(x.square().mul(-0.5)).mul(1 / Math.sqrt(2 * Math.PI)))),
  },
  SsegRelu6: {
    kind: 2,
    forward: (x: tf.Tensor) => tf.relu6(x),
    derivative: (x: tf.Tensor) => x.greater(0).logicalAnd(x.less(6)).cast("float32"),
  },
  SsegQuickGelu: {
    kind: 1,
    forward: (x: tf.Tensor) => x.mul(tf.sigmoid(x.mul(1.702))),
    derivative: (x: tf.Tensor) => {
      const s = tf.sigmoid(x.mul(1.702));
      return s.mul(x.mul(1.702).mul(tf.sub(1, s)).add(1));
    },
  },
} as const;

type ActivationKernel = keyof typeof ACTIVATIONS;

function activate(kernel: ActivationKernel, x: tf.Tensor): tf.Tensor {
  if (fused(x)) return tf.engine().runKernel(kernel, { x }) as tf.Tensor;
  return tf.tidy(() => ACTIVATIONS[kernel].forward(x));
}

/** Exact GELU, x·Φ(x), as torch.nn.GELU(). */
export const gelu = (x: tf.Tensor): tf.Tensor => activate("SsegGelu", x);

/** min(max(x, 0), 6), MobileNetV2's activation: tfjs's Relu6 with a one-pass native gradient. */
export const relu6 = (x: tf.Tensor): tf.Tensor => activate("SsegRelu6", x);

/** CLIP's QuickGELU, x·σ(1.702x). */
export const quickGelu = (x: tf.Tensor): tf.Tensor => activate("SsegQuickGelu", x);

function installActivation(kernel: ActivationKernel): void {
  const native = pack as NativePack;
  const { kind, forward, derivative } = ACTIVATIONS[kernel];
  const pointwise = (
    backend: CpuBackend,
    shape: number[],
    run: (out: Float32Array) => void,
    length: number,
  ) => {
    const out = new Float32Array(length);
    run(out);
    return output(backend, shape, out);
  };
  installKernel(
    kernel,
    ({ inputs, backend }) => {
      const x = floatValues(backend, inputs.x);
      return x && pointwise(backend, [...inputs.x.shape], (y) => native.activation(kind, x, y), x.length);
    },
    ({ inputs }) => tf.tidy(() => forward(asTensor(inputs.x!))),
  );
  installKernel(
    gradName(kernel),
    ({ inputs, backend }) => {
      const [dy, x] = [floatValues(backend, inputs.dy), floatValues(backend, inputs.x)];
      if (!dy || !x) return null;
      return pointwise(
        backend,
        [...inputs.x.shape],
        (dx) => native.activationGrad(kind, dy, x, dx),
        x.length,
      );
    },
    ({ inputs }) => tf.tidy(() => asTensor(inputs.dy!).mul(derivative(asTensor(inputs.x!)))),
  );
  tf.registerGradient({
    kernelName: kernel,
    inputsToSave: ["x"],
    gradFunc: (dy, [x]) => ({
      x: () => tf.engine().runKernel(gradName(kernel), { dy: dy as tf.Tensor, x }) as tf.Tensor,
    }),
  });
}

export function installNormKernels(native: NativePack): void {
  pack = native;
  installNormalization(LAYER_NORM);
  installNormalization(GROUP_NORM);
  installActivation("SsegGelu");
  installActivation("SsegQuickGelu");
  installActivation("SsegRelu6");
}
