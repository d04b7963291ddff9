import { test } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { nativeKernelsEnabled } from "../../../src/engine/kernels/registry.js";
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

setUpKernelParity(["BatchMatMul", "_FusedMatMul"]);

// Eigen accumulates in float32 with FMA, tfjs in float64: differences grow like sqrt(K)·eps.
const TOL = { atol: 1e-4, rtol: 1e-4 };
const ODD_SIZES = [1, 3, 17, 65, 130];
const TRANSPOSES = [
  [false, false],
  [false, true],
  [true, false],
  [true, true],
] as const;

interface MatMulCase {
  batchA: number[];
  batchB: number[];
  m: number;
  n: number;
  k: number;
  transposeA: boolean;
  transposeB: boolean;
}

function describeCase(c: MatMulCase): string {
  return `[${c.batchA}|${c.m}×${c.k}]${c.transposeA ? "ᵀ" : ""} · [${c.batchB}|${c.k}×${c.n}]${c.transposeB ? "ᵀ" : ""}`;
}

function operands(rng: Rng, c: MatMulCase): [tf.Tensor, tf.Tensor] {
  const a = c.transposeA ? [c.k, c.m] : [c.m, c.k];
  const b = c.transposeB ? [c.n, c.k] : [c.k, c.n];
  return [randomTensor(rng, [...c.batchA, ...a]), randomTensor(rng, [...c.batchB, ...b])];
}

function compareMatMul(rng: Rng, c: MatMulCase): void {
  const seed = rng.nextUint32();
  compareKernelPaths(
    () => {
      const [a, b] = operands(new Rng(seed), c);
      return tf.matMul(a, b, c.transposeA, c.transposeB);
    },
    { ...TOL, expectNative: ["BatchMatMul"], label: describeCase(c) },
  );
}

/**
 * Batch shapes that broadcast the way stock tfjs handles them: one side has the full batch, the other a suffix
 * of it (leading axes dropped or set to 1) or only ones.
 */
function broadcastingBatches(rng: Rng): [number[], number[]] {
  const full = Array.from({ length: randomInt(rng, 0, 2) }, () => randomInt(rng, 2, 3));
  const cut = rng.int(full.length + 1);
  const partial =
    rng.uniform() < 0.25 ? full.map(() => 1) : full.map((d, i) => (i < cut ? 1 : d)).slice(rng.int(cut + 1));
  return rng.uniform() < 0.5 ? [full, partial] : [partial, full];
}

test("BatchMatMul: all four transpose combinations on odd sizes and K = 1", () => {
  const rng = seededRng("matmul transposes");
  for (const [transposeA, transposeB] of TRANSPOSES) {
    for (let i = 0; i < 6; i++) {
      const [m, n] = [randomChoice(rng, ODD_SIZES), randomChoice(rng, ODD_SIZES)];
      const k = i === 0 ? 1 : randomChoice(rng, ODD_SIZES);
      compareMatMul(rng, { batchA: [], batchB: [], m, n, k, transposeA, transposeB });
    }
  }
});

test("BatchMatMul: random ranks 2–4 with batch broadcasting", () => {
  const rng = seededRng("matmul random");
  for (let i = 0; i < 40; i++) {
    const [batchA, batchB] = broadcastingBatches(rng);
    compareMatMul(rng, {
      batchA,
      batchB,
      m: randomInt(rng, 1, 20),
      n: randomInt(rng, 1, 20),
      k: randomInt(rng, 1, 20),
      transposeA: rng.uniform() < 0.5,
      transposeB: rng.uniform() < 0.5,
    });
  }
});

test("BatchMatMul: listed broadcasting layouts", () => {
  const rng = seededRng("matmul listed broadcasts");
  const layouts: [number[], number[]][] = [
    [[2, 3], []], // batched A against a rank-2 B
    [[], [2, 3]], // rank-2 A against a batched B
    [[1], [4]], // one side has batch 1
    [[4], [1]],
    [[2, 3], [3]], // different ranks
    [[3], [2, 3]],
    [
      [2, 3],
      [1, 3],
    ],
    [
      [1, 1],
      [2, 3],
    ],
  ];
  for (const [batchA, batchB] of layouts)
    for (const [transposeA, transposeB] of TRANSPOSES)
      compareMatMul(rng, { batchA, batchB, m: 5, n: 7, k: 6, transposeA, transposeB });
});

test("BatchMatMul: batches broadcast on both sides, which stock tfjs gets wrong, match explicit broadcasting", () => {
  const rng = seededRng("matmul mutual broadcasts");
  const layouts: [number[], number[]][] = [
    [[2, 1], [3]],
    [[3], [2, 1]],
    [
      [2, 1],
      [1, 3],
    ],
    [
      [2, 1, 3],
      [1, 4, 1],
    ],
  ];
  for (const [batchA, batchB] of layouts) {
    for (const [transposeA, transposeB] of TRANSPOSES) {
      const c = { batchA, batchB, m: 5, n: 7, k: 6, transposeA, transposeB };
      const seed = rng.nextUint32();
      compareKernelPaths(
        () => {
          const [a, b] = operands(new Rng(seed), c);
          if (nativeKernelsEnabled()) return tf.matMul(a, b, transposeA, transposeB);
          // Stock tfjs pairs batches by flat index modulo each side's batch size, so it multiplies full batches.
          const batch = tf.broadcast_util.assertAndGetBroadcastShape(batchA, batchB);
          const full = (x: tf.Tensor) => tf.broadcastTo(x, [...batch, ...x.shape.slice(-2)]);
          return tf.matMul(full(a), full(b), transposeA, transposeB);
        },
        { ...TOL, expectNative: ["BatchMatMul"], label: describeCase(c) },
      );
    }
  }
});

test("BatchMatMul: large products take the threaded paths", () => {
  const rng = seededRng("matmul large");
  // One big product splits rows between threads; many smaller ones split the batch.
  for (const [transposeA, transposeB] of TRANSPOSES)
    compareMatMul(rng, { batchA: [], batchB: [], m: 200, n: 150, k: 300, transposeA, transposeB });
  compareMatMul(rng, { batchA: [6], batchB: [6], m: 64, n: 80, k: 96, transposeA: false, transposeB: true });
  compareMatMul(rng, {
    batchA: [3, 2],
    batchB: [1],
    m: 65,
    n: 130,
    k: 17,
    transposeA: true,
    transposeB: false,
  });
});

test("BatchMatMul: gradients agree on both paths", () => {
  const rng = seededRng("matmul grads");
  for (let i = 0; i < 12; i++) {
    // tfjs's BatchMatMul gradient does not sum over broadcast batch axes, so both sides share the batch.
    const batch = Array.from({ length: randomInt(rng, 0, 2) }, () => randomInt(rng, 1, 3));
    const c: MatMulCase = {
      batchA: batch,
      batchB: batch,
      m: randomInt(rng, 1, 12),
      n: randomInt(rng, 1, 12),
      k: randomInt(rng, 1, 12),
      transposeA: i % 2 === 1,
      transposeB: i % 4 >= 2,
    };
    const seed = rng.nextUint32();
    compareKernelPaths(
      () => {
        const caseRng = new Rng(seed);
        const [a, b] = operands(caseRng, c);
        const cotangent = randomTensor(caseRng, tf.matMul(a, b, c.transposeA, c.transposeB).shape);
        return tf.grads((x: tf.Tensor, y: tf.Tensor) =>
          tf.matMul(x, y, c.transposeA, c.transposeB).mul(cotangent).sum(),
        )([a, b]);
      },
      { ...TOL, expectNative: ["BatchMatMul"], label: `grads of ${describeCase(c)}` },
    );
  }
});

type FusedActivation = "linear" | "relu" | "relu6" | "sigmoid" | "elu" | "leakyrelu" | "prelu";

interface FusedCase extends MatMulCase {
  biasShape: number[] | null;
  activation: FusedActivation;
}

const NATIVE = { expectNative: ["_FusedMatMul"] };
const FALLBACK = { expectFallback: ["_FusedMatMul"] };

function compareFused(rng: Rng, c: FusedCase, expect: PathExpectation): void {
  const leakyreluAlpha = 0.05 + 0.4 * rng.uniform();
  const seed = rng.nextUint32();
  compareKernelPaths(
    () => {
      const caseRng = new Rng(seed);
      const [a, b] = operands(caseRng, c);
      return tf.fused.matMul({
        a,
        b,
        transposeA: c.transposeA,
        transposeB: c.transposeB,
        bias: c.biasShape ? randomTensor(caseRng, c.biasShape, { scale: 3 }) : undefined,
        activation: c.activation,
        preluActivationWeights: c.activation === "prelu" ? randomTensor(caseRng, [c.n]) : undefined,
        leakyreluAlpha,
      });
    },
    {
      ...TOL,
      ...expect,
      label: `${c.activation} with bias [${c.biasShape ?? "none"}] on ${describeCase(c)}`,
    },
  );
}

/** tfjs's fused.matMul flattens each side's batch first, so one side has the full batch and the other one or none. */
function randomFusedShape(rng: Rng): MatMulCase {
  const full = Array.from({ length: randomInt(rng, 0, 2) }, () => randomInt(rng, 1, 3));
  const other = randomChoice(rng, [full, [], full.map(() => 1)]);
  const [batchA, batchB] = rng.uniform() < 0.5 ? [full, other] : [other, full];
  return {
    batchA,
    batchB,
    m: randomInt(rng, 2, 20),
    n: randomInt(rng, 1, 20),
    k: randomInt(rng, 1, 20),
    transposeA: rng.uniform() < 0.5,
    transposeB: rng.uniform() < 0.5,
  };
}

test("_FusedMatMul: bias [N], [1], [1, N], [] or none with every native activation", () => {
  const rng = seededRng("fused matmul");
  for (const activation of ["linear", "relu", "relu6", "sigmoid", "elu", "leakyrelu"] as const) {
    const shape = randomFusedShape(rng);
    for (const biasShape of [[shape.n], [1], [1, shape.n], [], null])
      compareFused(rng, { ...shape, biasShape, activation }, NATIVE);
  }
});

test("_FusedMatMul: a large product with bias and activation takes the threaded path", () => {
  const rng = seededRng("fused matmul large");
  const shape = { batchA: [], batchB: [], m: 200, n: 150, k: 300, transposeA: false, transposeB: true };
  compareFused(rng, { ...shape, biasShape: [150], activation: "relu" }, NATIVE);
});

test("_FusedMatMul: prelu and biases [M, N] or [M, 1] fall back to tfjs and still agree", () => {
  const rng = seededRng("fused matmul fallback");
  for (let i = 0; i < 6; i++) {
    const shape = randomFusedShape(rng);
    compareFused(rng, { ...shape, biasShape: [shape.n], activation: "prelu" }, FALLBACK);
    compareFused(rng, { ...shape, biasShape: [shape.m, shape.n], activation: "relu" }, FALLBACK);
  }
  // As many bias values as columns, but they run down the rows.
  const square = { batchA: [2], batchB: [], m: 6, n: 6, k: 4, transposeA: false, transposeB: false };
  compareFused(rng, { ...square, biasShape: [6, 1], activation: "linear" }, FALLBACK);
});
