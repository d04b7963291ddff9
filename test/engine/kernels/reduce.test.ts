import { describe, test } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { Rng } from "../../../src/engine/rng.js";
import {
  compareKernelPaths,
  type ParityOptions,
  type RandomTensorOptions,
  randomInt,
  randomShape,
  randomTensor,
  seededRng,
  setUpKernelParity,
} from "../../support/parity.js";

type Reduce = (x: tf.Tensor, axis: number | number[] | undefined, keepDims: boolean) => tf.Tensor;

// Prod draws values near 1, so that products of many of them stay finite and non-zero.
const REDUCTIONS: { kernel: string; op: Reduce; values: RandomTensorOptions }[] = [
  { kernel: "Sum", op: tf.sum, values: {} },
  { kernel: "Mean", op: tf.mean, values: {} },
  { kernel: "Max", op: tf.max, values: {} },
  { kernel: "Min", op: tf.min, values: {} },
  { kernel: "Prod", op: tf.prod, values: { mean: 1, scale: 0.05 } },
];

setUpKernelParity(REDUCTIONS.map(({ kernel }) => kernel));

// tfjs accumulates in float64, the native kernels in float32: the error grows with the reduced count
// (sums over a few hundred normal values differ by up to ~6e-5).
const TOL = { atol: 1e-5, rtol: 1e-5 };
const LARGE_TOL = { atol: 2e-4, rtol: 1e-4 };

interface ReduceCase {
  shape: number[];
  axis: number | number[] | undefined;
  keepDims: boolean;
  tol?: Pick<ParityOptions, "atol" | "rtol">;
  /** Overrides the reduction's own value distribution. */
  values?: RandomTensorOptions;
  /** The case is one the native kernel hands back to tfjs. */
  fallback?: boolean;
}

/** A random non-empty subset of the axes, sorted or not, sometimes written as negative axes. */
function randomAxes(rng: Rng, rank: number): number[] {
  const axes = rng.shuffle([...Array(rank).keys()]).slice(0, randomInt(rng, 1, rank));
  return axes.map((a) => (rng.uniform() < 0.3 ? a - rank : a));
}

for (const { kernel, op, values } of REDUCTIONS) {
  describe(kernel, () => {
    const compareReduce = (
      rng: Rng,
      { shape, axis, keepDims, tol = TOL, fallback = false, ...c }: ReduceCase,
    ) => {
      const seed = rng.nextUint32();
      const drawn = c.values ?? values;
      compareKernelPaths(() => op(randomTensor(new Rng(seed), shape, drawn), axis, keepDims), {
        ...tol,
        expectNative: fallback ? [] : [kernel],
        expectFallback: fallback ? [kernel] : [],
        label: `${kernel} of [${shape}] over ${JSON.stringify(axis) ?? "all axes"}${keepDims ? " keeping dims" : ""}`,
      });
    };

    test("random axis subsets of ranks 1–4, keepDims on and off", () => {
      const rng = seededRng(`${kernel} random`);
      for (let i = 0; i < 40; i++) {
        const shape = randomShape(rng, randomInt(rng, 1, 4), 6);
        compareReduce(rng, { shape, axis: randomAxes(rng, shape.length), keepDims: rng.uniform() < 0.5 });
      }
    });

    test("listed axes: all, single, non-adjacent, negative", () => {
      const rng = seededRng(`${kernel} listed`);
      const shape = [3, 4, 5, 6];
      const axes = [
        undefined,
        [0, 1, 2, 3],
        0,
        1,
        3,
        -1,
        -3,
        [0, 2],
        [1, 3],
        [0, 3],
        [2, 0],
        [-1, 1],
        [0, 1, 3],
      ];
      for (const axis of axes)
        for (const keepDims of [false, true]) compareReduce(rng, { shape, axis, keepDims });
    });

    test("one element", () => {
      const rng = seededRng(`${kernel} single`);
      for (const shape of [[1], [1, 1, 1]])
        for (const keepDims of [false, true]) compareReduce(rng, { shape, axis: undefined, keepDims });
      compareReduce(rng, { shape: [1, 1, 1], axis: 1, keepDims: false });
    });

    test("NaN and ±Inf propagate", () => {
      const rng = seededRng(`${kernel} specials`);
      for (const axis of [undefined, 0, 1, [0, 2]])
        compareReduce(rng, { shape: [5, 7, 3], axis, keepDims: false, values: { ...values, special: 0.05 } });
    });

    test("large inputs: long rows, columns and the threaded paths", () => {
      const rng = seededRng(`${kernel} large`);
      const cases: ReduceCase[] = [
        { shape: [70000], axis: undefined, keepDims: false },
        { shape: [64, 2048], axis: 1, keepDims: false }, // rows
        { shape: [600, 300], axis: 0, keepDims: false }, // one slab of columns
        { shape: [8, 300, 64], axis: 1, keepDims: true }, // columns in several slabs
        { shape: [16, 32, 8, 24], axis: [0, 2], keepDims: false }, // transposed first
      ];
      for (const c of cases) compareReduce(rng, { ...c, tol: LARGE_TOL });
    });

    test("empty and int32 inputs fall back to tfjs", () => {
      const rng = seededRng(`${kernel} fallback`);
      compareReduce(rng, {
        shape: [3, 4],
        axis: 1,
        keepDims: false,
        values: { dtype: "int32" },
        fallback: true,
      });
      compareReduce(rng, { shape: [0, 4], axis: 1, keepDims: false, fallback: true });
    });
  });
}
