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

setUpKernelParity(["PadV2"]);

const EXACT = { atol: 0, rtol: 0 };

test("PadV2: random ranks, paddings and constant values agree exactly", () => {
  const rng = seededRng("pad random");
  for (let i = 0; i < 40; i++) {
    const shape = randomShape(rng, randomInt(rng, 1, 5), 6);
    const paddings = shape.map((): [number, number] => [rng.int(3), rng.int(3)]);
    const value = rng.uniform() < 0.5 ? 0 : rng.normal();
    const seed = rng.nextUint32();
    compareKernelPaths(() => tf.pad(randomTensor(new Rng(seed), shape, { special: 0.05 }), paddings, value), {
      ...EXACT,
      expectNative: ["PadV2"],
      label: `pad [${shape}] by ${JSON.stringify(paddings)} with ${value}`,
    });
  }
});

test("PadV2: the gradient of a weight slice (what attention's projections do) agrees", () => {
  const seed = seededRng("pad slice grad").nextUint32();
  compareKernelPaths(
    () => {
      const w = randomTensor(new Rng(seed), [96, 32]);
      return tf.grad((x: tf.Tensor) => tf.slice(x, [32, 0], [32, 32]).square().sum())(w);
    },
    { ...EXACT, expectNative: ["PadV2"], label: "grad of slice" },
  );
});

test("PadV2: int32 tensors fall back to tfjs", () => {
  compareKernelPaths(
    () =>
      tf.pad(tf.tensor2d([[1, 2]], [1, 2], "int32"), [
        [1, 0],
        [0, 2],
      ]),
    {
      ...EXACT,
      expectFallback: ["PadV2"],
      label: "int32 pad",
    },
  );
});
