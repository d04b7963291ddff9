import assert from "node:assert/strict";
import { before, test } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { initEngine } from "../../src/engine/backend.js";
import { Rng } from "../../src/engine/rng.js";
import { Dropout, DropPath } from "../../src/nn/dropout.js";

before(() => initEngine());

test("DropPath zeroes whole samples, rescales the kept ones, and is the identity in eval mode", () => {
  const layer = new DropPath(0.5, new Rng(7));
  const x = tf.ones([64, 3, 2]);
  const y = layer.forward(x).arraySync() as number[][][];
  const kept = y.filter((s) => s[0][0] !== 0);
  for (const s of y)
    assert.ok(
      s.flat().every((v) => v === s[0][0]),
      "one value per sample",
    );
  for (const s of kept) assert.equal(s[0][0], 2);
  assert.ok(kept.length > 16 && kept.length < 48, `kept ${kept.length} of 64`);
  layer.eval();
  assert.equal(layer.forward(x), x);
});

test("Dropout is seeded: the same seed drops the same elements", () => {
  const x = tf.ones([100]);
  const a = new Dropout(0.3, new Rng(5)).forward(x).dataSync();
  const b = new Dropout(0.3, new Rng(5)).forward(x).dataSync();
  assert.deepEqual(a, b);
  assert.throws(() => new Dropout(1, new Rng(1)), /p must be in \[0, 1\), got 1/);
});
