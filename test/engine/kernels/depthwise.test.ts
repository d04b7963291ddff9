import { test } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { Rng } from "../../../src/engine/rng.js";
import {
  compareKernelPaths,
  randomChoice,
  randomInt,
  randomTensor,
  seededRng,
  setUpKernelParity,
} from "../../support/parity.js";

const KERNELS = [
  "DepthwiseConv2dNative",
  "FusedDepthwiseConv2D",
  "DepthwiseConv2dNativeBackpropInput",
  "DepthwiseConv2dNativeBackpropFilter",
];
setUpKernelParity(KERNELS);

const TOL = { atol: 1e-4, rtol: 1e-4 };

type Padding = "same" | "valid" | tf.backend_util.ExplicitPadding;

interface DepthwiseCase {
  input: [number, number, number, number];
  kernel: [number, number];
  multiplier: number;
  strides: [number, number];
  dilations: [number, number];
  pad: Padding;
}

/**
 * A random depthwise convolution tfjs accepts (strides or dilations 1), MobileNet's Keras padding among them;
 * tfjs's depthwise gradient takes no dilations and its fused form no explicit padding.
 */
function randomCase(rng: Rng, { multiplier = 1, dilatable = true, explicit = true } = {}): DepthwiseCase {
  const strided = !dilatable || rng.uniform() < 0.6;
  const pair = (max: number): [number, number] => [randomInt(rng, 1, max), randomInt(rng, 1, max)];
  const strides: [number, number] = strided ? pair(2) : [1, 1];
  const dilations: [number, number] = strided ? [1, 1] : pair(2);
  const kernel = pair(3).map((k) => 2 * k - 1) as [number, number]; // 1, 3, 5
  const span = kernel.map((k, i) => (k - 1) * dilations[i] + 1);
  const paddings: Padding[] = ["same", "valid"];
  if (explicit)
    paddings.push(
      [
        [0, 0],
        [0, 1],
        [0, 1],
        [0, 0],
      ],
      [
        [0, 0],
        [rng.int(3), rng.int(3)],
        [rng.int(3), rng.int(3)],
        [0, 0],
      ],
    );
  const pad = randomChoice(rng, paddings);
  return {
    input: [
      randomInt(rng, 1, 3),
      span[0] + randomInt(rng, 0, 9),
      span[1] + randomInt(rng, 0, 9),
      randomInt(rng, 1, 40),
    ],
    kernel,
    multiplier,
    strides,
    dilations,
    pad,
  };
}

const describe = (c: DepthwiseCase) =>
  `depthwise [${c.input}] k ${c.kernel} ×${c.multiplier} stride ${c.strides} dilation ${c.dilations} pad ${JSON.stringify(c.pad)}`;

const filterShape = (c: DepthwiseCase): [number, number, number, number] => [
  ...c.kernel,
  c.input[3],
  c.multiplier,
];

const depthwise = (c: DepthwiseCase, x: tf.Tensor, filter: tf.Tensor) =>
  tf.depthwiseConv2d(x as tf.Tensor4D, filter as tf.Tensor4D, c.strides, c.pad, "NHWC", c.dilations);

test("DepthwiseConv2dNative: random shapes, strides, dilations and paddings", () => {
  const rng = seededRng("depthwise random");
  for (let i = 0; i < 30; i++) {
    const c = randomCase(rng);
    const seed = rng.nextUint32();
    compareKernelPaths(
      () => {
        const caseRng = new Rng(seed);
        return depthwise(c, randomTensor(caseRng, c.input), randomTensor(caseRng, filterShape(c)));
      },
      { ...TOL, expectNative: ["DepthwiseConv2dNative"], label: describe(c) },
    );
  }
});

test("DepthwiseConv2dNative's gradients for the input and the filter: random shapes, strides and paddings", () => {
  const rng = seededRng("depthwise gradients");
  for (let i = 0; i < 30; i++) {
    const c = randomCase(rng, { dilatable: false });
    const seed = rng.nextUint32();
    compareKernelPaths(
      () => {
        const caseRng = new Rng(seed);
        const x = randomTensor(caseRng, c.input);
        const filter = randomTensor(caseRng, filterShape(c));
        const cotangent = randomTensor(caseRng, depthwise(c, x, filter).shape);
        return tf.grads((input, weights) => depthwise(c, input, weights).mul(cotangent).sum())([x, filter]);
      },
      {
        ...TOL,
        expectNative: KERNELS.filter((k) => !k.startsWith("Fused")),
        label: `grads of ${describe(c)}`,
      },
    );
  }
});

test("FusedDepthwiseConv2D: bias and relu6 natively; a channel multiplier of 2 falls back to tfjs", () => {
  const rng = seededRng("depthwise fused");
  for (const multiplier of [1, 2]) {
    const c = randomCase(rng, { multiplier, explicit: false });
    const seed = rng.nextUint32();
    compareKernelPaths(
      () => {
        const caseRng = new Rng(seed);
        return tf.fused.depthwiseConv2d({
          x: randomTensor(caseRng, c.input) as tf.Tensor4D,
          filter: randomTensor(caseRng, filterShape(c)) as tf.Tensor4D,
          strides: c.strides,
          pad: c.pad as "same" | "valid",
          dilations: c.dilations,
          bias: randomTensor(caseRng, [c.input[3] * multiplier]),
          activation: "relu6",
        });
      },
      {
        ...TOL,
        expectNative: multiplier === 1 ? ["FusedDepthwiseConv2D"] : [],
        expectFallback: multiplier === 1 ? undefined : ["FusedDepthwiseConv2D"],
        label: `fused ${describe(c)}`,
      },
    );
  }
});
