import assert from "node:assert/strict";
import { before, test } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { initEngine } from "../../src/engine/backend.js";
import { l2Normalize, meanPairwiseCosine } from "../../src/nn/normalize.js";

before(() => initEngine());

test("l2Normalize: unit rows, a zero row stays zero", () => {
  const rows = l2Normalize(tf.tensor2d([3, 4, 0, 0], [2, 2])).dataSync();
  assert.deepEqual([...rows], [...Float32Array.of(0.6, 0.8, 0, 0)]);
});

test("meanPairwiseCosine: the mean over pairs i ≠ j, per leading index; 0 for a single row", () => {
  const rows = tf.tensor3d([
    [
      [1, 0],
      [0, 1],
      [0.6, 0.8],
    ],
    [
      [1, 0],
      [1, 0],
      [-1, 0],
    ],
  ]);
  const [a, b] = meanPairwiseCosine(rows).arraySync() as number[];
  assert.ok(Math.abs(a - (0 + 0.6 + 0.8) / 3) < 1e-6, `${a}`);
  assert.ok(Math.abs(b - (1 - 1 - 1) / 3) < 1e-6, `${b}`);
  assert.equal(meanPairwiseCosine(tf.tensor2d([[1, 0]])).dataSync()[0], 0);
});
