/**
 * Conv2D, FusedConv2D and both Conv2D gradients (NHWC) on the native im2col + GEMM kernels; the depthwise
 * convolution (channel multiplier 1), its fused form and both its gradients on direct native loops.
 */
import * as tf from "@tensorflow/tfjs";
import type { NativePack } from "../native.js";
import { type CpuBackend, floatValues, installKernel, output, sizeOf } from "./registry.js";

type ConvInfo = ReturnType<typeof tf.backend_util.computeConv2DInfo>;

/** The addon's geometry array (see native/src/addon.cc). */
function geometry(info: ConvInfo): Int32Array {
  return Int32Array.from([
    info.batchSize,
    info.inHeight,
    info.inWidth,
    info.inChannels,
    info.outHeight,
    info.outWidth,
    info.outChannels,
    info.filterHeight,
    info.filterWidth,
    info.strideHeight,
    info.strideWidth,
    info.padInfo.top,
    info.padInfo.left,
    info.dilationHeight,
    info.dilationWidth,
  ]);
}

function convInfo(
  xShape: number[],
  filterShape: number[],
  attrs: Record<string, unknown>,
  dilations: number | [number, number] = (attrs.dilations as [number, number]) ?? 1,
  depthwise = false,
): ConvInfo | null {
  if ((attrs.dataFormat ?? "NHWC") !== "NHWC") return null;
  // the native depthwise kernels take a channel multiplier of 1: filter [kh, kw, C, 1]
  if (depthwise && filterShape[3] !== 1) return null;
  const info = tf.backend_util.computeConv2DInfo(
    xShape as [number, number, number, number],
    filterShape as [number, number, number, number],
    attrs.strides as [number, number],
    dilations,
    attrs.pad as "same",
    attrs.dimRoundingMode as "floor" | undefined,
    depthwise,
  );
  // batch, input and output sizes: the first seven geometry entries must all be positive
  return geometry(info)
    .subarray(0, 7)
    .every((s) => s > 0)
    ? info
    : null;
}

function conv2d(
  pack: NativePack,
  backend: CpuBackend,
  x: tf.TensorInfo,
  filter: tf.TensorInfo,
  attrs: Record<string, unknown>,
  depthwise = false,
) {
  const xv = floatValues(backend, x);
  const fv = floatValues(backend, filter);
  const info = xv && fv ? convInfo([...x.shape], [...filter.shape], attrs, undefined, depthwise) : null;
  if (!xv || !fv || !info) return null;
  const y = new Float32Array(sizeOf(info.outShape));
  (depthwise ? pack.depthwiseConv2d : pack.conv2d)(xv, fv, y, geometry(info));
  return { y, info };
}

const sameShape = (a: readonly number[], b: readonly number[]) =>
  a.length === b.length && a.every((d, i) => d === b[i]);

/** tfjs activation name → the addon's unary op applied after the bias (null: not handled natively). */
const FUSED_ACTIVATIONS: Record<string, number | undefined> = {
  relu: 10,
  relu6: 14,
  sigmoid: 3,
  elu: 13,
  leakyrelu: 17,
};

export function installConvKernels(pack: NativePack): void {
  for (const depthwise of [false, true]) {
    const [plain, fused] = depthwise
      ? ["DepthwiseConv2dNative", "FusedDepthwiseConv2D"]
      : ["Conv2D", "FusedConv2D"];
    installKernel(plain, ({ inputs, backend, attrs }) => {
      const result = conv2d(pack, backend, inputs.x, inputs.filter, attrs, depthwise);
      return result && output(backend, result.info.outShape, result.y);
    });
    installKernel(fused, ({ inputs, backend, attrs }) => {
      const activation = (attrs.activation as string) ?? "linear";
      const act = FUSED_ACTIVATIONS[activation];
      if ((activation !== "linear" && act === undefined) || inputs.preluActivationWeights) return null;
      const bias = inputs.bias ? floatValues(backend, inputs.bias) : null;
      if (inputs.bias) {
        const perChannel =
          inputs.bias.shape.length <= 4 && inputs.bias.shape.slice(0, -1).every((d) => d === 1);
        const channels = inputs.filter.shape[2] * inputs.filter.shape[3];
        if (
          !bias ||
          !perChannel ||
          !(bias.length === 1 || bias.length === (depthwise ? channels : inputs.filter.shape[3]))
        )
          return null;
      }
      const result = conv2d(pack, backend, inputs.x, inputs.filter, attrs, depthwise);
      if (!result) return null;
      const { y, info } = result;
      if (bias) {
        const channels = info.outChannels;
        const rows = y.length / channels;
        pack.binary(
          0,
          y,
          Int32Array.from([channels, 1]),
          bias,
          Int32Array.from([0, bias.length === 1 ? 0 : 1]),
          y,
          Int32Array.from([rows, channels]),
        );
      }
      if (act !== undefined) pack.unary(act, y, y, (attrs.leakyreluAlpha as number) ?? 0.2);
      return output(backend, info.outShape, y);
    });
  }
  const gradients = [
    ["Conv2DBackpropInput", "Conv2DBackpropFilter", false],
    ["DepthwiseConv2dNativeBackpropInput", "DepthwiseConv2dNativeBackpropFilter", true],
  ] as const;
  for (const [inputKernel, filterKernel, depthwise] of gradients) {
    installKernel(inputKernel, ({ inputs, backend, attrs }) => {
      const dy = floatValues(backend, inputs.dy);
      const fv = floatValues(backend, inputs.filter);
      const inputShape = attrs.inputShape as number[];
      const info =
        dy && fv
          ? convInfo(inputShape, [...inputs.filter.shape], attrs, depthwise ? undefined : 1, depthwise)
          : null;
      // tfjs's conv gradient drops dimRoundingMode, so the recomputed geometry can disagree with dy.
      if (!dy || !fv || !info || !sameShape(info.outShape, inputs.dy.shape)) return null;
      const dx = new Float32Array(sizeOf(inputShape));
      (depthwise ? pack.depthwiseConv2dBackpropInput : pack.conv2dBackpropInput)(dy, fv, dx, geometry(info));
      return output(backend, inputShape, dx);
    });
    installKernel(filterKernel, ({ inputs, backend, attrs }) => {
      const xv = floatValues(backend, inputs.x);
      const dy = floatValues(backend, inputs.dy);
      const filterShape = attrs.filterShape as number[];
      const info =
        xv && dy
          ? convInfo([...inputs.x.shape], filterShape, attrs, depthwise ? undefined : 1, depthwise)
          : null;
      if (!xv || !dy || !info || !sameShape(info.outShape, inputs.dy.shape)) return null;
      const df = new Float32Array(sizeOf(filterShape));
      (depthwise ? pack.depthwiseConv2dBackpropFilter : pack.conv2dBackpropFilter)(
        xv,
        dy,
        df,
        geometry(info),
      );
      return output(backend, filterShape, df);
    });
  }
}
