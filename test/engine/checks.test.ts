import assert from "node:assert/strict";
import { before, test } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { initEngine } from "../../src/engine/backend.js";
import { allFinite, assertFinite } from "../../src/engine/checks.js";

before(() => initEngine());

test("finiteness helpers name the bad tensors", () => {
  assert.equal(allFinite(tf.tensor1d([1, 2])), true);
  assert.equal(allFinite(tf.tensor1d([1, Number.POSITIVE_INFINITY])), false);
  assert.throws(
    () => assertFinite({ ok: tf.scalar(1), bad: tf.scalar(Number.NaN) }, "logits"),
    /Non-finite values \(NaN or Inf\) in logits: bad/,
  );
});
