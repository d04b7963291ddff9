import { test } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { Rng } from "../../../src/engine/rng.js";
import {
  compareKernelPaths,
  type PathExpectation,
  type RandomTensorOptions,
  randomInt,
  randomTensor,
  seededRng,
  setUpKernelParity,
} from "../../support/parity.js";

setUpKernelParity(["Transpose"]);

// A transpose only moves values, so both paths must agree exactly (NaN where NaN).
const EXACT = { atol: 0, rtol: 0 };

function compareTranspose(
  rng: Rng,
  shape: number[],
  perm: number[],
  values: RandomTensorOptions = { special: 0.05 },
  // tf.transpose clones a rank-1 tensor without calling the kernel.
  expect: PathExpectation = {
    expectNative: shape.length > 1 ? ["Transpose"] : [],
  },
): void {
  const seed = rng.nextUint32();
  compareKernelPaths(() => tf.transpose(randomTensor(new Rng(seed), shape, values), perm), {
    ...EXACT,
    ...expect,
    label: `transpose [${shape}] by [${perm}]`,
  });
}

test("Transpose: random ranks 1–6 with random permutations and unit axes", () => {
  const rng = seededRng("transpose random");
  for (let i = 0; i < 50; i++) {
    const rank = randomInt(rng, 1, 6);
    const shape = Array.from({ length: rank }, () => (rng.uniform() < 0.25 ? 1 : randomInt(rng, 2, 5)));
    compareTranspose(rng, shape, rng.shuffle([...shape.keys()]));
  }
});

test("Transpose: listed unit-axis, identity and adjacent-axis permutations", () => {
  const rng = seededRng("transpose listed");
  const cases: [number[], number[]][] = [
    [
      [1, 5, 1, 3],
      [3, 0, 2, 1],
    ], // only unit axes move relative to each other
    [
      [1, 1, 1],
      [2, 1, 0],
    ],
    [[7], [0]], // identity
    [
      [2, 3, 4],
      [0, 1, 2],
    ],
    [
      [2, 3, 4, 5],
      [2, 3, 0, 1],
    ], // two merged blocks swap
    [
      [2, 3, 4, 5, 6],
      [0, 3, 4, 1, 2],
    ],
    [
      [2, 3, 4, 5, 6, 2],
      [5, 4, 3, 2, 1, 0],
    ], // full reversal
  ];
  for (const [shape, perm] of cases) compareTranspose(rng, shape, perm);
});

test("Transpose: large inputs take the tiled and threaded paths", () => {
  const rng = seededRng("transpose large");
  compareTranspose(rng, [300, 517], [1, 0]);
  compareTranspose(rng, [6, 70, 90], [0, 2, 1]); // a batch of 2-D transposes
  compareTranspose(rng, [8, 32, 16, 24], [0, 2, 1, 3]); // attention's head split
  compareTranspose(rng, [33, 20, 40], [2, 0, 1]);
});

test("Transpose: int32 and empty inputs fall back to tfjs", () => {
  const rng = seededRng("transpose fallback");
  compareTranspose(rng, [3, 4, 5], [2, 0, 1], { dtype: "int32" }, { expectFallback: ["Transpose"] });
  compareTranspose(rng, [0, 3], [1, 0], {}, { expectFallback: ["Transpose"] });
});
