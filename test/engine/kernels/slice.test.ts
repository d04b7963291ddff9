import { test } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { Rng } from "../../../src/engine/rng.js";
import {
  compareKernelPaths,
  randomInt,
  randomShape,
  randomTensor,
  seededRng,
  setUpKernelParity,
} from "../../support/parity.js";

setUpKernelParity(["Slice", "SplitV"]);

const EXACT = { atol: 0, rtol: 0 };

test("Slice: random ranks, begins and sizes (−1 = to the end) agree exactly", () => {
  const rng = seededRng("slice random");
  for (let i = 0; i < 40; i++) {
    const shape = randomShape(rng, randomInt(rng, 1, 5), 6);
    const begin = shape.map((d) => rng.int(d));
    const size = shape.map((d, k) => (rng.uniform() < 0.2 ? -1 : 1 + rng.int(d - begin[k])));
    const seed = rng.nextUint32();
    compareKernelPaths(() => tf.slice(randomTensor(new Rng(seed), shape, { special: 0.05 }), begin, size), {
      ...EXACT,
      expectNative: ["Slice"],
      label: `slice [${shape}] at [${begin}] size [${size}]`,
    });
  }
});

test("Slice: the CLS token dropped from ViT tokens, and its gradient, agree", () => {
  const seed = seededRng("slice cls").nextUint32();
  compareKernelPaths(
    () => {
      const tokens = randomTensor(new Rng(seed), [3, 17, 8]);
      return tf.grad((x: tf.Tensor) => tf.slice(x, [0, 1, 0], [-1, -1, -1]).square().sum())(tokens);
    },
    { ...EXACT, expectNative: ["Slice"], label: "grad of a token slice" },
  );
});

test("Slice: int32 tensors and empty slices fall back or come out empty", () => {
  compareKernelPaths(() => tf.slice(tf.tensor2d([[1, 2, 3]], [1, 3], "int32"), [0, 1], [1, 2]), {
    ...EXACT,
    expectFallback: ["Slice"],
    label: "int32 slice",
  });
  compareKernelPaths(() => tf.slice(tf.ones([2, 3]), [1, 0], [0, 3]), { ...EXACT, label: "empty slice" });
});

test("SplitV: random splits along every axis (the gradient of a concatenation) agree exactly", () => {
  const rng = seededRng("splitv random");
  for (let i = 0; i < 30; i++) {
    const shape = randomShape(rng, randomInt(rng, 1, 5), 6);
    const axis = rng.int(shape.length);
    const first = rng.int(shape[axis] + 1);
    const seed = rng.nextUint32();
    compareKernelPaths(
      () => tf.concat(tf.split(randomTensor(new Rng(seed), shape), [first, shape[axis] - first], axis), axis),
      { ...EXACT, expectNative: ["SplitV"], label: `split [${shape}] at ${first} on axis ${axis}` },
    );
  }
});
