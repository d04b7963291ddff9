import { test } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { Rng } from "../../../src/engine/rng.js";
import {
  compareKernelPaths,
  type PathExpectation,
  randomChoice,
  randomInt,
  randomTensor,
  seededRng,
  setUpKernelParity,
} from "../../support/parity.js";

setUpKernelParity(["Conv2D", "FusedConv2D", "Conv2DBackpropInput", "Conv2DBackpropFilter"]);

// Both paths accumulate patch products in float32, in a different order.
const TOL = { atol: 1e-4, rtol: 1e-4 };

type Padding = "same" | "valid" | number | tf.backend_util.ExplicitPadding;

/** An NHWC convolution: input [batch, height, width, inChannels], filter [kernel…, inChannels, outChannels]. */
interface ConvCase {
  input: [number, number, number, number];
  filter: [number, number, number, number];
  strides: [number, number];
  dilations: [number, number];
  pad: Padding;
  dimRoundingMode?: "floor" | "round" | "ceil";
}

function describeCase(c: ConvCase): string {
  const rounding = c.dimRoundingMode ? ` ${c.dimRoundingMode}` : "";
  return `conv [${c.input}] * [${c.filter}] stride ${c.strides} dilation ${c.dilations} pad ${JSON.stringify(c.pad)}${rounding}`;
}

/**
 * A random convolution tfjs accepts: strides or dilations are 1 and the dilated kernel fits the input. A numeric
 * pad gets a square kernel and equal strides, because tfjs sizes both output axes from the kernel's height then.
 * tfjs's conv2d gradient takes no dilations and drops dimRoundingMode, so gradient cases turn those off.
 */
function randomConvCase(rng: Rng, { dilations: dilatable = true, rounding = true } = {}): ConvCase {
  const padding = randomChoice(rng, ["same", "valid", "number", "explicit"] as const);
  const pair = (max: number): [number, number] =>
    padding === "number" ? square(randomInt(rng, 1, max)) : [randomInt(rng, 1, max), randomInt(rng, 1, max)];
  const strided = !dilatable || rng.uniform() < 0.5;
  const strides = strided ? pair(3) : square(1);
  const dilations = strided ? square(1) : pair(3);
  const kernel = pair(5);
  const span = kernel.map((k, i) => (k - 1) * dilations[i] + 1);
  const inChannels = randomInt(rng, 1, 6);
  const explicit = (): Padding => [
    [0, 0],
    [rng.int(3), rng.int(3)],
    [rng.int(3), rng.int(3)],
    [0, 0],
  ];
  const pad = padding === "number" ? rng.int(3) : padding === "explicit" ? explicit() : padding;
  return {
    input: [randomInt(rng, 1, 3), span[0] + randomInt(rng, 0, 7), span[1] + randomInt(rng, 0, 7), inChannels],
    filter: [kernel[0], kernel[1], inChannels, randomInt(rng, 1, 6)],
    strides,
    dilations,
    pad,
    dimRoundingMode:
      padding === "number" && rounding ? randomChoice(rng, ["floor", "round", "ceil"] as const) : undefined,
  };
}

const square = (n: number): [number, number] => [n, n];

/** A stride-1, undilated, unpadded convolution unless `rest` says otherwise. */
function convCase(
  input: ConvCase["input"],
  filter: ConvCase["filter"],
  rest: Partial<ConvCase> = {},
): ConvCase {
  return { input, filter, strides: square(1), dilations: square(1), pad: "valid", ...rest };
}

const conv = (c: ConvCase, x: tf.Tensor, filter: tf.Tensor) =>
  tf.conv2d(
    x as tf.Tensor4D,
    filter as tf.Tensor4D,
    c.strides,
    c.pad,
    "NHWC",
    c.dilations,
    c.dimRoundingMode,
  );

function compareConv(rng: Rng, c: ConvCase): void {
  const seed = rng.nextUint32();
  compareKernelPaths(
    () => {
      const caseRng = new Rng(seed);
      return conv(c, randomTensor(caseRng, c.input), randomTensor(caseRng, c.filter));
    },
    { ...TOL, expectNative: ["Conv2D"], label: describeCase(c) },
  );
}

function compareConvGrads(rng: Rng, c: ConvCase, expect: "native" | "fallback" = "native"): void {
  const seed = rng.nextUint32();
  const gradKernels = ["Conv2DBackpropInput", "Conv2DBackpropFilter"];
  compareKernelPaths(
    () => {
      const caseRng = new Rng(seed);
      const x = randomTensor(caseRng, c.input);
      const filter = randomTensor(caseRng, c.filter);
      const cotangent = randomTensor(caseRng, conv(c, x, filter).shape);
      return tf.grads((input, weights) => conv(c, input, weights).mul(cotangent).sum())([x, filter]);
    },
    {
      ...TOL,
      expectNative: expect === "native" ? ["Conv2D", ...gradKernels] : ["Conv2D"],
      expectFallback: expect === "fallback" ? gradKernels : undefined,
      label: `grads of ${describeCase(c)}`,
    },
  );
}

test("Conv2D: random shapes, strides, dilations and paddings", () => {
  const rng = seededRng("conv random");
  for (let i = 0; i < 40; i++) compareConv(rng, randomConvCase(rng));
});

test("Conv2D: pointwise, kernels as large as the input, and large inputs on the threaded paths", () => {
  const rng = seededRng("conv listed");
  const cases: ConvCase[] = [
    convCase([2, 5, 6, 7], [1, 1, 7, 9]), // pointwise: the GEMM reads the input directly
    convCase([2, 5, 6, 7], [1, 1, 7, 9], { strides: [2, 2] }), // 1×1 but strided: im2col
    convCase([1, 4, 5, 3], [4, 5, 3, 2]), // one output pixel
    convCase([1, 3, 3, 2], [5, 5, 2, 4], { pad: "same" }), // kernel wider than the image
    convCase([4, 24, 24, 16], [3, 3, 16, 32], { pad: "same" }), // images split across threads
    convCase([1, 40, 40, 16], [3, 3, 16, 32], { pad: "same", strides: [2, 2] }), // one image, threaded GEMM
  ];
  for (const c of cases) compareConv(rng, c);
});

test("Conv2D: NCHW falls back to tfjs", () => {
  const seed = seededRng("conv nchw").nextUint32();
  compareKernelPaths(
    () => {
      const caseRng = new Rng(seed);
      const x = randomTensor(caseRng, [2, 3, 6, 5]) as tf.Tensor4D;
      return tf.conv2d(x, randomTensor(caseRng, [3, 3, 3, 4]) as tf.Tensor4D, 1, "same", "NCHW");
    },
    { ...TOL, expectFallback: ["Conv2D"], label: "NCHW conv" },
  );
});

test("Conv2DBackpropInput and Conv2DBackpropFilter: gradients of conv2d agree on both paths", () => {
  const rng = seededRng("conv grads");
  for (let i = 0; i < 25; i++)
    compareConvGrads(rng, randomConvCase(rng, { dilations: false, rounding: false }));
  compareConvGrads(rng, convCase([2, 16, 16, 8], [3, 3, 8, 16], { pad: "same" }));
  compareConvGrads(rng, convCase([1, 40, 40, 16], [1, 1, 16, 32]));
});

test("Conv2DBackpropInput and Conv2DBackpropFilter: gradients of a conv2d with a dimRoundingMode", () => {
  // tfjs's conv2d gradient drops dimRoundingMode, so the gradient kernels see a dy larger than their geometry:
  // the native kernels must hand those calls back to tfjs.
  const rng = seededRng("conv grads rounding");
  compareConvGrads(
    rng,
    convCase([1, 3, 3, 1], [1, 1, 1, 3], { strides: [3, 3], pad: 1, dimRoundingMode: "ceil" }),
    "fallback",
  );
  compareConvGrads(
    rng,
    convCase([2, 5, 5, 2], [2, 2, 2, 3], { strides: [2, 2], pad: 1, dimRoundingMode: "round" }),
    "fallback",
  );
});

test("Conv2DBackpropInput: conv2dTranspose agrees on both paths", () => {
  const rng = seededRng("conv transpose");
  for (let i = 0; i < 15; i++) {
    const c = randomConvCase(rng, { dilations: false });
    const seed = rng.nextUint32();
    compareKernelPaths(
      () => {
        const caseRng = new Rng(seed);
        const filter = randomTensor(caseRng, c.filter) as tf.Tensor4D;
        const outShape = tf.backend_util.computeConv2DInfo(
          c.input,
          c.filter,
          c.strides,
          1,
          c.pad,
          c.dimRoundingMode,
        ).outShape;
        const dy = randomTensor(caseRng, outShape) as tf.Tensor4D;
        return tf.conv2dTranspose(dy, filter, c.input, c.strides, c.pad, c.dimRoundingMode);
      },
      { ...TOL, expectNative: ["Conv2DBackpropInput"], label: `transpose of ${describeCase(c)}` },
    );
  }
});

type FusedActivation = "linear" | "relu" | "relu6" | "sigmoid" | "elu" | "leakyrelu" | "prelu";

function compareFusedConv(
  rng: Rng,
  c: ConvCase,
  activation: FusedActivation,
  biasShape: number[] | null,
  expect: PathExpectation,
): void {
  const leakyreluAlpha = 0.05 + 0.4 * rng.uniform();
  const seed = rng.nextUint32();
  compareKernelPaths(
    () => {
      const caseRng = new Rng(seed);
      return tf.fused.conv2d({
        x: randomTensor(caseRng, c.input) as tf.Tensor4D,
        filter: randomTensor(caseRng, c.filter) as tf.Tensor4D,
        strides: c.strides,
        pad: c.pad,
        dilations: c.dilations,
        dimRoundingMode: c.dimRoundingMode,
        bias: biasShape ? randomTensor(caseRng, biasShape, { scale: 3 }) : undefined,
        activation,
        preluActivationWeights: activation === "prelu" ? randomTensor(caseRng, [c.filter[3]]) : undefined,
        leakyreluAlpha,
      });
    },
    { ...TOL, ...expect, label: `${activation} with bias [${biasShape ?? "none"}] on ${describeCase(c)}` },
  );
}

test("FusedConv2D: bias [C], [1], [] or none with every native activation", () => {
  const rng = seededRng("fused conv");
  for (const activation of ["linear", "relu", "relu6", "sigmoid", "elu", "leakyrelu"] as const) {
    const c = randomConvCase(rng);
    for (const biasShape of [[c.filter[3]], [1], [], null])
      compareFusedConv(rng, c, activation, biasShape, { expectNative: ["FusedConv2D"] });
  }
  const large = convCase([4, 24, 24, 16], [3, 3, 16, 32], { pad: "same" });
  compareFusedConv(rng, large, "relu", [32], { expectNative: ["FusedConv2D"] });
});

test("FusedConv2D: prelu and a bias that varies over pixels fall back to tfjs and still agree", () => {
  const rng = seededRng("fused conv fallback");
  const c = convCase([2, 6, 5, 3], [3, 3, 3, 4], { pad: "same" });
  const fallback = { expectFallback: ["FusedConv2D"] };
  compareFusedConv(rng, c, "prelu", [4], fallback);
  compareFusedConv(rng, c, "relu", [6, 5, 4], fallback);
});

test("FusedConv2D: a bias [W, 1] broadcasts along the width even when W equals the channel count", () => {
  // Output [2, 6, 4, 4]: the bias has as many values as there are channels but does not run along them.
  const c = convCase([2, 6, 4, 3], [3, 3, 3, 4], { pad: "same" });
  compareFusedConv(seededRng("fused conv width bias"), c, "linear", [4, 1], {});
});
