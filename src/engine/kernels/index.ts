/** Installs the whole native kernel pack into tfjs's cpu backend. */
import type { NativePack } from "../native.js";
import { installConvKernels } from "./conv.js";
import { installElementwiseKernels } from "./elementwise.js";
import { installMatmulKernels } from "./matmul.js";
import { installNormKernels } from "./norm.js";
import { installOptimizerKernels } from "./optimizer.js";
import { installPadKernel } from "./pad.js";
import { installReduceKernels } from "./reduce.js";
import { installSegmentKernels } from "./segment.js";
import { installSliceKernels } from "./slice.js";
import { installSoftmaxKernels } from "./softmax.js";
import { installTransposeKernel } from "./transpose.js";

export { kernelCalls, nativeKernelsEnabled, setNativeKernelsEnabled } from "./registry.js";

export function installNativeKernels(pack: NativePack): void {
  installMatmulKernels(pack);
  installElementwiseKernels(pack);
  installSoftmaxKernels(pack);
  installTransposeKernel(pack);
  installReduceKernels(pack);
  installConvKernels(pack);
  installSegmentKernels(pack);
  installPadKernel();
  installSliceKernels();
  installOptimizerKernels(pack);
  installNormKernels(pack);
}
