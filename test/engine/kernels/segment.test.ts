import assert from "node:assert/strict";
import { describe, test } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { installedKernels, kernelCalls } from "../../../src/engine/kernels/registry.js";
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

setUpKernelParity(["UnsortedSegmentSum", "GatherV2"]);

// tfjs sums segments in float64, the native kernel in float32 (both in row order).
const TOL = { atol: 1e-5, rtol: 1e-5 };
// Sums of a hundred rows and more.
const MANY_ROWS_TOL = { atol: 1e-4, rtol: 1e-5 };
// A gather copies values and a scatter adds in row order in float32 like the native kernel: exact.
const EXACT = { atol: 0, rtol: 0 };

/**
 * Without the native pack both paths are stock, so cases checking the native kernel against a scatter skip:
 * the stock kernel spreads NaN, sums in float64, and takes ~13 min and ~25 GB for the token table.
 */
function stockOnly(): boolean {
  return !installedKernels().includes("UnsortedSegmentSum");
}
const NO_PACK = "no native pack: this compares the native kernel with a scatter";

function randomIds(rng: Rng, count: number, low: number, high: number): Int32Array {
  return Int32Array.from({ length: count }, () => randomInt(rng, low, high));
}

/** tf.scatterND summing the rows whose id is in [0, numSegments): an independent stock segment sum. */
function scatterSegmentSum(x: tf.Tensor, ids: Int32Array, numSegments: number): tf.Tensor {
  const kept = [...ids.keys()].filter((r) => ids[r] >= 0 && ids[r] < numSegments);
  const outShape = [numSegments, ...x.shape.slice(1)];
  if (kept.length === 0) return tf.zeros(outShape);
  const rows = tf.gather(x, tf.tensor1d(kept, "int32"));
  return tf.scatterND(
    tf.tensor2d(
      kept.map((r) => [ids[r]]),
      [kept.length, 1],
      "int32",
    ),
    rows,
    outShape,
  );
}

interface SegmentCase {
  xShape: number[];
  ids: Int32Array;
  numSegments: number;
  values?: RandomTensorOptions;
  tol?: Pick<ParityOptions, "atol" | "rtol">;
  /** Compare with scatterSegmentSum instead of the stock kernel (too slow, or it spreads NaN: see docs). */
  againstScatter?: boolean;
  fallback?: boolean;
}

function compareSegmentSum(
  rng: Rng,
  { xShape, ids, numSegments, values = {}, tol = TOL, againstScatter = false, fallback = false }: SegmentCase,
): void {
  const seed = rng.nextUint32();
  const x = () => randomTensor(new Rng(seed), xShape, values);
  compareKernelPaths(() => tf.unsortedSegmentSum(x(), tf.tensor1d(ids, "int32"), numSegments), {
    ...tol,
    expectNative: fallback ? [] : ["UnsortedSegmentSum"],
    expectFallback: fallback ? ["UnsortedSegmentSum"] : [],
    reference: againstScatter ? () => scatterSegmentSum(x(), ids, numSegments) : undefined,
    label: `unsortedSegmentSum of [${xShape}] into ${numSegments} segments`,
  });
}

describe("UnsortedSegmentSum", () => {
  test("random shapes and ids, duplicates, negative and too large ids", () => {
    const rng = seededRng("segment random");
    for (let i = 0; i < 40; i++) {
      const rows = randomInt(rng, 1, 40);
      const numSegments = randomInt(rng, 1, 30);
      const xShape = [rows, ...randomShape(rng, randomInt(rng, 0, 3), 5)];
      compareSegmentSum(rng, { xShape, ids: randomIds(rng, rows, -3, numSegments + 2), numSegments });
    }
  });

  test("many duplicate ids: hundreds of rows into a few segments", () => {
    const rng = seededRng("segment duplicates");
    compareSegmentSum(rng, {
      xShape: [300, 7],
      ids: randomIds(rng, 300, 0, 3),
      numSegments: 4,
      tol: MANY_ROWS_TOL,
    });
    compareSegmentSum(rng, {
      xShape: [200, 3],
      ids: new Int32Array(200).fill(2),
      numSegments: 5,
      tol: MANY_ROWS_TOL,
    });
  });

  test("ids outside [0, numSegments) drop their rows, negative ones included", () => {
    const rng = seededRng("segment out of range");
    compareSegmentSum(rng, { xShape: [6, 4], ids: Int32Array.of(-1, 3, -7, 5, 2, 100), numSegments: 3 });
    compareSegmentSum(rng, { xShape: [4, 2], ids: Int32Array.of(-1, -2, 3, 9), numSegments: 3 });
    compareSegmentSum(rng, {
      xShape: [5, 3],
      ids: Int32Array.of(-2147483648, 2147483647, 0, 1, 1),
      numSegments: 2,
    });
  });

  test("inner size 1, one row, one segment", () => {
    const rng = seededRng("segment inner 1");
    compareSegmentSum(rng, { xShape: [50], ids: randomIds(rng, 50, -1, 9), numSegments: 9 });
    compareSegmentSum(rng, { xShape: [50, 1], ids: randomIds(rng, 50, 0, 20), numSegments: 21 });
    compareSegmentSum(rng, { xShape: [1], ids: Int32Array.of(0), numSegments: 1 });
    compareSegmentSum(rng, { xShape: [1, 3], ids: Int32Array.of(2), numSegments: 4 });
    compareSegmentSum(rng, { xShape: [8, 3], ids: randomIds(rng, 8, 0, 0), numSegments: 1 });
  });

  test("threaded paths: segment ranges and column blocks", () => {
    const rng = seededRng("segment threaded");
    compareSegmentSum(rng, { xShape: [300, 96], ids: randomIds(rng, 300, -5, 404), numSegments: 400 });
    compareSegmentSum(rng, { xShape: [40, 2000], ids: randomIds(rng, 40, -1, 6), numSegments: 6 });
    compareSegmentSum(rng, {
      xShape: [3000, 20],
      ids: randomIds(rng, 3000, 0, 9),
      numSegments: 10,
      tol: MANY_ROWS_TOL,
    });
  });

  test("a 49408×64 table with 200 ids (the stock kernel loops over every row of the table)", (t) => {
    if (stockOnly()) return t.skip(NO_PACK);
    const rng = seededRng("segment large table");
    const started = performance.now();
    compareSegmentSum(rng, {
      xShape: [200, 64],
      ids: randomIds(rng, 200, 0, 49407),
      numSegments: 49408,
      againstScatter: true,
    });
    t.diagnostic(`native segment sum and scatter reference: ${(performance.now() - started).toFixed(0)} ms`);
  });

  test("NaN and ±Inf stay in their own segment", (t) => {
    if (stockOnly()) return t.skip(NO_PACK);
    // The stock kernel multiplies x by a 0/1 mask per segment: 0·Inf and 0·NaN spread NaN to every segment.
    const rng = seededRng("segment specials");
    for (let i = 0; i < 5; i++)
      compareSegmentSum(rng, {
        xShape: [30, 6],
        ids: randomIds(rng, 30, 0, 11),
        numSegments: 12,
        values: { special: 0.1 },
        againstScatter: true,
      });
  });

  test("int32 values, empty inputs and ids that are not one per row fall back to tfjs", () => {
    const rng = seededRng("segment fallback");
    const ids = Int32Array.of(0, 2, 1, 2);
    compareSegmentSum(rng, {
      xShape: [4, 3],
      ids,
      numSegments: 3,
      values: { dtype: "int32" },
      fallback: true,
    });
    compareSegmentSum(rng, { xShape: [0, 3], ids: new Int32Array(0), numSegments: 3, fallback: true });
    compareKernelPaths(
      () =>
        tf.unsortedSegmentSum(
          tf.ones([2, 3]),
          tf.tensor2d([0, 1, 1, 0, 2, 2], [2, 3], "int32") as tf.Tensor as tf.Tensor1D,
          3,
        ),
      { ...TOL, expectFallback: ["UnsortedSegmentSum"], label: "segment ids of rank 2" },
    );
  });
});

interface GatherCase {
  xShape: number[];
  indices: tf.Tensor;
  axis: number;
  batchDims?: number;
  values?: RandomTensorOptions;
  fallback?: boolean;
}

function compareGather(
  rng: Rng,
  { xShape, indices, axis, batchDims = 0, values = {}, fallback = false }: GatherCase,
) {
  const seed = rng.nextUint32();
  try {
    compareKernelPaths(
      () => tf.gather(randomTensor(new Rng(seed), xShape, values), indices, axis, batchDims),
      {
        ...EXACT,
        expectNative: fallback ? [] : ["GatherV2"],
        expectFallback: fallback ? ["GatherV2"] : [],
        label: `gather from [${xShape}] of [${indices.shape}] indices, axis ${axis}, batchDims ${batchDims}`,
      },
    );
  } finally {
    indices.dispose();
  }
}

describe("GatherV2", () => {
  test("random ranks, axes and index shapes", () => {
    const rng = seededRng("gather random");
    for (let i = 0; i < 40; i++) {
      const xShape = randomShape(rng, randomInt(rng, 1, 4), 6);
      const axis = randomInt(rng, 0, xShape.length - 1);
      const indicesShape = randomShape(rng, randomInt(rng, 0, 2), 5);
      const count = indicesShape.reduce((a, b) => a * b, 1);
      const indices = tf.tensor(randomIds(rng, count, 0, xShape[axis] - 1), indicesShape, "int32");
      compareGather(rng, { xShape, indices, axis: rng.uniform() < 0.3 ? axis - xShape.length : axis });
    }
  });

  test("batchDims 1: one index row per batch entry", () => {
    const rng = seededRng("gather batch");
    for (const [xShape, axis] of [
      [[3, 7, 4], 1],
      [[2, 5, 6, 3], 2],
      [[4, 9], 1],
    ] as [number[], number][]) {
      const indices = tf.tensor2d(
        randomIds(rng, xShape[0] * 5, 0, xShape[axis] - 1),
        [xShape[0], 5],
        "int32",
      );
      compareGather(rng, { xShape, indices, axis, batchDims: 1 });
    }
  });

  test("large tables, the threaded path, NaN and ±Inf copied as they are", () => {
    const rng = seededRng("gather large");
    compareGather(rng, {
      xShape: [49408, 64],
      indices: tf.tensor1d(randomIds(rng, 200, 0, 49407), "int32"),
      axis: 0,
    });
    compareGather(rng, {
      xShape: [4000, 128],
      indices: tf.tensor1d(randomIds(rng, 1000, 0, 3999), "int32"),
      axis: 0,
    });
    compareGather(rng, {
      xShape: [30, 8],
      indices: tf.tensor1d(randomIds(rng, 40, 0, 29), "int32"),
      axis: 0,
      values: { special: 0.2 },
    });
  });

  test("int32 values and empty indices fall back to tfjs; an index out of range gets tfjs's error", () => {
    const rng = seededRng("gather fallback");
    compareGather(rng, {
      xShape: [5, 3],
      indices: tf.tensor1d([4, 0, 4], "int32"),
      axis: 0,
      values: { dtype: "int32" },
      fallback: true,
    });
    compareGather(rng, { xShape: [5, 3], indices: tf.tensor1d([], "int32"), axis: 0, fallback: true });
    const fallbacksBefore = kernelCalls.get("GatherV2")?.fallback ?? 0;
    for (const bad of [5, -1])
      assert.throws(
        () => tf.tidy(() => tf.gather(tf.ones([5, 3]), tf.tensor1d([0, bad], "int32"))),
        new RegExp(`GatherV2: the index value ${bad} is not in \\[0, 4\\]`),
      );
    if (kernelCalls.has("GatherV2")) assert.equal(kernelCalls.get("GatherV2")!.fallback, fallbacksBefore + 2);
  });
});

describe("gradient of gather (GatherV2 then UnsortedSegmentSum)", () => {
  /** d/dtable of Σ gather(table, ids, axis)·dy, natively, against a scatter of dy along `axis`. */
  function compareGatherGradient(rng: Rng, tableShape: number[], ids: Int32Array, axis: number): void {
    const seed = rng.nextUint32();
    const inputs = () => {
      const caseRng = new Rng(seed);
      const table = randomTensor(caseRng, tableShape);
      const dyShape = tableShape.map((d, i) => (i === axis ? ids.length : d));
      return { table, dy: randomTensor(caseRng, dyShape) };
    };
    // The gathered axis first, as tfjs's own gradient does, then back.
    const perm = [axis, ...tableShape.keys()].filter((d, i) => i === 0 || d !== axis);
    compareKernelPaths(
      () => {
        const { table, dy } = inputs();
        return tf.grad((t: tf.Tensor) => tf.gather(t, tf.tensor1d(ids, "int32"), axis).mul(dy).sum())(table);
      },
      {
        ...EXACT,
        expectNative: ["GatherV2", "UnsortedSegmentSum"],
        reference: () => {
          const { dy } = inputs();
          const indices = tf.tensor2d(ids, [ids.length, 1], "int32");
          const scattered = tf.scatterND(
            indices,
            dy.transpose(perm),
            perm.map((d) => tableShape[d]),
          );
          return scattered.transpose(perm.map((_, i) => perm.indexOf(i)));
        },
        label: `gradient of a gather of ${ids.length} ids from [${tableShape}] along axis ${axis}`,
      },
    );
  }

  test("duplicate ids along axis 0 and along a middle axis", (t) => {
    if (stockOnly()) return t.skip(NO_PACK);
    const rng = seededRng("gather gradient");
    compareGatherGradient(rng, [300, 16], randomIds(rng, 120, 0, 59), 0);
    compareGatherGradient(rng, [5, 200, 3], randomIds(rng, 40, 0, 199), 1);
    compareGatherGradient(rng, [7], randomIds(rng, 20, 0, 6), 0);
  });

  test("a 49408×128 token table with 1,000 ids takes milliseconds", (t) => {
    if (stockOnly()) return t.skip(NO_PACK);
    const rng = seededRng("gather gradient large");
    const started = performance.now();
    compareGatherGradient(rng, [49408, 128], randomIds(rng, 1000, 0, 49407), 0);
    t.diagnostic(`native gradient and scatter reference: ${(performance.now() - started).toFixed(0)} ms`);
  });

  test("the same gradient on the stock path for a small table", () => {
    const rng = seededRng("gather gradient stock");
    const seed = rng.nextUint32();
    const ids = randomIds(rng, 30, 0, 49);
    compareKernelPaths(
      () => {
        const caseRng = new Rng(seed);
        const table = randomTensor(caseRng, [50, 8]);
        const dy = randomTensor(caseRng, [30, 8]);
        return tf.grad((t: tf.Tensor) => tf.gather(t, tf.tensor1d(ids, "int32")).mul(dy).sum())(table);
      },
      { ...TOL, expectNative: ["GatherV2", "UnsortedSegmentSum"], label: "gradient of a gather from [50,8]" },
    );
  });
});
