import { describe, test } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { Rng } from "../../../src/engine/rng.js";
import {
  compareKernelPaths,
  type PathExpectation,
  type RandomTensorOptions,
  randomChoice,
  randomInt,
  randomShape,
  randomTensor,
  seededRng,
  setUpKernelParity,
} from "../../support/parity.js";

type Binary = (a: tf.Tensor, b: tf.Tensor) => tf.Tensor;
type Unary = (x: tf.Tensor) => tf.Tensor;

const BINARY_OPS: { kernel: string; op: Binary }[] = [
  { kernel: "Add", op: tf.add },
  { kernel: "Sub", op: tf.sub },
  { kernel: "Multiply", op: tf.mul },
  { kernel: "RealDiv", op: tf.div },
  { kernel: "Maximum", op: tf.maximum },
  { kernel: "Minimum", op: tf.minimum },
  { kernel: "SquaredDifference", op: tf.squaredDifference },
  { kernel: "Pow", op: tf.pow },
];

const UNARY_OPS: { kernel: string; op: Unary; atol?: number }[] = [
  { kernel: "Exp", op: tf.exp },
  { kernel: "Log", op: tf.log },
  { kernel: "Tanh", op: tf.tanh },
  { kernel: "Sigmoid", op: tf.sigmoid, atol: 1e-6 }, // Eigen's logistic is good to ~2e-7 absolute, not relative
  { kernel: "Erf", op: tf.erf, atol: 1e-6 }, // tfjs's erf is a polynomial approximation good to ~1e-7
  { kernel: "Sqrt", op: tf.sqrt },
  { kernel: "Rsqrt", op: tf.rsqrt },
  { kernel: "Square", op: tf.square },
  { kernel: "Neg", op: tf.neg },
  { kernel: "Abs", op: tf.abs },
  { kernel: "Relu", op: tf.relu },
  { kernel: "Reciprocal", op: tf.reciprocal },
  { kernel: "Log1p", op: tf.log1p },
  { kernel: "Elu", op: tf.elu },
  { kernel: "Relu6", op: tf.relu6 },
  { kernel: "Sin", op: tf.sin },
  { kernel: "Cos", op: tf.cos },
  { kernel: "LeakyRelu", op: (x) => tf.leakyRelu(x, 0.15) },
];

setUpKernelParity([...BINARY_OPS, ...UNARY_OPS].map(({ kernel }) => kernel));

// tfjs rounds a float64 result once, the native kernels work in float32 (Eigen's functions are a few ulp off).
const TOL = { atol: 1e-7, rtol: 1e-5 };

/** Inputs that stress NaN/Inf handling; every pair of them meets in the binary grids. */
const EDGE_VALUES = [
  Number.NaN,
  Infinity,
  -Infinity,
  0,
  -0,
  1,
  -1,
  0.5,
  -2,
  3.5,
  1e30,
  -1e30,
  1e-30,
  88,
  -104,
];
/** Repeated 37 times, each edge value lands both in vector lanes and in scalar loop tails. */
const EDGE_REPEATS = 37;
const edgeRow = () => tf.tile(tf.tensor(EDGE_VALUES, [1, EDGE_VALUES.length]), [1, EDGE_REPEATS]);
const edgeColumn = () => tf.tensor(EDGE_VALUES, [EDGE_VALUES.length, 1]);

interface Layout {
  a: number[];
  b: number[];
}

function compareBinary(
  rng: Rng,
  kernel: string,
  op: Binary,
  { a, b }: Layout,
  values: RandomTensorOptions,
  expect: PathExpectation = { expectNative: [kernel] },
): void {
  const seed = rng.nextUint32();
  compareKernelPaths(
    () => {
      const caseRng = new Rng(seed);
      return op(randomTensor(caseRng, a, values), randomTensor(caseRng, b, values));
    },
    { ...TOL, ...expect, label: `${kernel} [${a}] × [${b}]` },
  );
}

/** Two shapes that broadcast: a random output shape, each side dropping leading axes and setting some to 1. */
function broadcastingLayout(rng: Rng): Layout {
  const full = randomShape(rng, randomInt(rng, 1, 5), 5);
  const side = () => full.slice(rng.int(full.length + 1)).map((d) => (rng.uniform() < 0.3 ? 1 : d));
  return { a: side(), b: side() };
}

const LISTED_LAYOUTS: Layout[] = [
  { a: [3, 4], b: [3, 4] },
  { a: [], b: [3, 4] }, // scalar on either side
  { a: [3, 4], b: [] },
  { a: [3, 4], b: [4] }, // row
  { a: [3, 4], b: [1, 4] },
  { a: [3, 4], b: [3, 1] }, // column
  { a: [3, 1], b: [3, 4] },
  { a: [4, 1, 5], b: [1, 3, 1] }, // middle axis
  { a: [2, 3, 4], b: [2, 1, 4] },
  { a: [2, 1, 3, 1, 2], b: [3, 4, 1] }, // rank 5
  { a: [1], b: [1] }, // one element
  { a: [], b: [] },
  { a: [1, 1], b: [] },
];

// Just over 2^16 output elements, so the rows are split between threads.
const LARGE_LAYOUTS: Layout[] = [
  { a: [257, 256], b: [257, 256] },
  { a: [257, 256], b: [256] },
  { a: [257, 256], b: [257, 1] },
  { a: [16, 1, 257], b: [1, 16, 1] },
];

const EMPTY_LAYOUTS: Layout[] = [
  { a: [0, 3], b: [3] },
  { a: [2, 0], b: [] },
  { a: [0], b: [0] },
];

for (const { kernel, op } of BINARY_OPS) {
  describe(kernel, () => {
    test("listed broadcasting layouts and single elements", () => {
      const rng = seededRng(`${kernel} listed`);
      for (const layout of LISTED_LAYOUTS) compareBinary(rng, kernel, op, layout, { special: 0.1 });
    });

    test("random broadcasts of ranks 1–5", () => {
      const rng = seededRng(`${kernel} random`);
      for (let i = 0; i < 30; i++) compareBinary(rng, kernel, op, broadcastingLayout(rng), { special: 0.1 });
    });

    test("large inputs take the threaded path", () => {
      const rng = seededRng(`${kernel} large`);
      for (const layout of LARGE_LAYOUTS) compareBinary(rng, kernel, op, layout, { special: 0.01 });
    });

    test("every pair of NaN, ±Inf, ±0, ±1 and extreme values, broadcast and dense", () => {
      const grid = [EDGE_VALUES.length, EDGE_VALUES.length * EDGE_REPEATS];
      const options = { ...TOL, expectNative: [kernel] };
      compareKernelPaths(() => op(edgeColumn(), edgeRow()), {
        ...options,
        label: `${kernel} broadcast grid`,
      });
      compareKernelPaths(() => op(edgeColumn().broadcastTo(grid), edgeRow().broadcastTo(grid)), {
        ...options,
        label: `${kernel} dense grid`,
      });
    });

    // tf.div on int32 runs FloorDiv, not RealDiv.
    if (kernel !== "RealDiv")
      test("int32 inputs fall back to tfjs", () => {
        const rng = seededRng(`${kernel} int32`);
        compareBinary(
          rng,
          kernel,
          op,
          { a: [3, 4], b: [4] },
          { dtype: "int32" },
          { expectFallback: [kernel] },
        );
      });

    test("empty tensors fall back to tfjs", () => {
      const rng = seededRng(`${kernel} empty`);
      for (const layout of EMPTY_LAYOUTS)
        compareBinary(rng, kernel, op, layout, {}, { expectFallback: [kernel] });
    });
  });
}

for (const { kernel, op, atol = TOL.atol } of UNARY_OPS) {
  describe(kernel, () => {
    const compareUnary = (
      rng: Rng,
      shape: number[],
      values: RandomTensorOptions,
      expectNative = [kernel],
    ) => {
      const seed = rng.nextUint32();
      compareKernelPaths(() => op(randomTensor(new Rng(seed), shape, values)), {
        ...TOL,
        atol,
        expectNative,
        label: `${kernel} [${shape}] of scale ${values.scale ?? 1}`,
      });
    };

    test("random values of every magnitude with NaN, ±Inf and zeros mixed in", () => {
      const rng = seededRng(`${kernel} random`);
      for (let i = 0; i < 20; i++) {
        const scale = randomChoice(rng, [0.01, 1, 5, 50, 1e4]);
        compareUnary(rng, randomShape(rng, randomInt(rng, 1, 4), 6), { scale, special: 0.15 });
      }
    });

    test("large inputs take the threaded path", () => {
      compareUnary(seededRng(`${kernel} large`), [70001], { scale: 4, special: 0.001 });
    });

    test("NaN, ±Inf, ±0, ±1 and extreme values", () => {
      compareKernelPaths(() => op(edgeRow()), {
        ...TOL,
        atol,
        expectNative: [kernel],
        label: `${kernel} edges`,
      });
    });

    test("empty tensors do not crash", () => {
      compareUnary(seededRng(`${kernel} empty`), [0, 4], {}, []);
    });
  });
}
