import { test } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { SOFTMAX_GRAD } from "../../../src/engine/kernels/softmax.js";
import { Rng } from "../../../src/engine/rng.js";
import {
  compareKernelPaths,
  type RandomTensorOptions,
  randomChoice,
  randomInt,
  randomShape,
  randomTensor,
  seededRng,
  setUpKernelParity,
} from "../../support/parity.js";

setUpKernelParity(["Softmax", SOFTMAX_GRAD]);

const TOL = { atol: 1e-7, rtol: 1e-5 };
// The gradient subtracts Σ dy·y from dy, so absolute error follows the size of dy rather than the result.
const GRAD_TOL = { atol: 1e-6, rtol: 1e-5 };

function compareSoftmax(rng: Rng, shape: number[], values: RandomTensorOptions, label = ""): void {
  const seed = rng.nextUint32();
  compareKernelPaths(() => tf.softmax(randomTensor(new Rng(seed), shape, values)), {
    ...TOL,
    expectNative: ["Softmax"],
    label: `softmax [${shape}] ${label}`,
  });
}

function compareSoftmaxGrad(rng: Rng, shape: number[], values: RandomTensorOptions): void {
  const seed = rng.nextUint32();
  compareKernelPaths(
    () => {
      const caseRng = new Rng(seed);
      const x = randomTensor(caseRng, shape, values);
      const weights = randomTensor(caseRng, shape);
      return tf.grads((logits: tf.Tensor) => tf.softmax(logits).mul(weights).sum())([x]);
    },
    { ...GRAD_TOL, expectNative: ["Softmax", SOFTMAX_GRAD], label: `softmax gradient [${shape}]` },
  );
}

test("Softmax: random ranks 1–4 over the last axis, values of every scale", () => {
  const rng = seededRng("softmax random");
  for (let i = 0; i < 40; i++) {
    const shape = [...randomShape(rng, randomInt(rng, 0, 3), 6), randomInt(rng, 1, 40)];
    const scale = randomChoice(rng, [0.1, 1, 10, 1e3]);
    compareSoftmax(rng, shape, { scale }, `(scale ${scale})`);
  }
});

test("Softmax: huge logits do not overflow", () => {
  const rng = seededRng("softmax huge");
  compareSoftmax(rng, [6, 33], { mean: 1e6, scale: 1e3 }, "around 1e6");
  compareSoftmax(rng, [6, 33], { mean: -1e6, scale: 1e3 }, "around -1e6");
  compareSoftmax(rng, [6, 33], { scale: 1e37 }, "of magnitude 1e37");
  compareKernelPaths(
    () =>
      tf.softmax(
        tf.tensor([
          [3e38, -3e38, 0, 3e38],
          [88, 89, 90, 1000],
        ]),
      ),
    {
      ...TOL,
      expectNative: ["Softmax"],
      label: "softmax at the float range",
    },
  );
});

test("Softmax: -Inf entries, all -Inf rows, +Inf and NaN", () => {
  const rows = [
    [0, -Infinity, 1, 2],
    [-Infinity, -Infinity, -Infinity, 5],
    [-Infinity, -Infinity, -Infinity, -Infinity],
    [Infinity, 0, 1, -Infinity],
    [Number.NaN, 0, 1, 2],
  ];
  compareKernelPaths(() => tf.softmax(tf.tensor(rows)), {
    ...TOL,
    expectNative: ["Softmax"],
    label: "special rows",
  });
  compareSoftmax(seededRng("softmax specials"), [7, 19], { special: 0.2 }, "with specials");
});

test("Softmax: one column and one element", () => {
  const rng = seededRng("softmax single");
  for (const shape of [[5, 1], [1], [1, 1], [2, 3, 1]]) compareSoftmax(rng, shape, {});
});

test("Softmax: a large input takes the threaded path", () => {
  compareSoftmax(seededRng("softmax large"), [512, 257], { scale: 3 });
});

test("SsegSoftmaxGrad: gradients of softmax agree on both paths", () => {
  const rng = seededRng("softmax grad");
  for (let i = 0; i < 20; i++)
    compareSoftmaxGrad(rng, [...randomShape(rng, randomInt(rng, 0, 3), 5), randomInt(rng, 1, 30)], {
      scale: 2,
    });
  compareSoftmaxGrad(rng, [512, 257], { scale: 3 });
  compareSoftmaxGrad(rng, [9, 13], { special: 0.1 });
});
