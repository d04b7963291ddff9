import assert from "node:assert/strict";
import { before, test } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { initEngine } from "../../src/engine/backend.js";
import { evaluate } from "../../src/eval/evaluate.js";
import { classEmbeddings, classScores, labelsFromScores } from "../../src/infer/semantic.js";
import { SSegModel } from "../../src/model/sseg.js";
import { ClipTokenizer } from "../../src/text/tokenizer.js";
import { micro } from "../support/configs.js";

before(() => initEngine());

test("labelsFromScores: best class + 1 above the threshold, background 0 below it", () => {
  // one image, 2 classes, 3 pixels: scores (0.7, 0.2), (0.3, 0.4), (0.1, 0.9)
  const scores = tf.tensor4d([0.7, 0.3, 0.1, 0.2, 0.4, 0.9], [1, 2, 1, 3]);
  assert.deepEqual([...labelsFromScores(scores, 0.5)[0]], [1, 0, 2]);
  assert.deepEqual([...labelsFromScores(scores, 0)[0]], [1, 2, 2]);
});

test("class scores are a convex mix of the queries' class probabilities: in [0, 1], summing to 1 per pixel", async () => {
  const model = new SSegModel(micro).eval();
  const classes = classEmbeddings(model, await ClipTokenizer.load(), ["cat", "dog", "tree"]);
  const scores = classScores(
    model,
    tf.randomNormal([2, 64, 64, 3], 0, 1, "float32", 1) as tf.Tensor4D,
    classes,
  );
  assert.deepEqual(scores.shape, [2, 3, 16, 16]);
  const sums = scores.sum(1).dataSync();
  for (const s of sums) assert.ok(Math.abs(s - 1) < 1e-4, `per-pixel sum ${s}`);
  tf.dispose([scores, classes]);
  model.dispose();
});

test("evaluate scores a model on the composite sample with and without background", async () => {
  const model = new SSegModel(micro);
  const root = new URL("../../../data/composites-sample/val", import.meta.url).pathname;
  const result = await evaluate(model, root, { limit: 3 });
  assert.equal(result.images, 3);
  for (const value of [result.miouWithBackground, result.miouWithoutBackground])
    assert.ok(value >= 0 && value <= 1);
  assert.ok("background" in result.iou && "bird" in result.iou);
  for (const value of Object.values(result.maskOracle)) assert.ok(value >= 0 && value <= 1);
  assert.equal(model.training, true, "the model's mode is restored");
  model.dispose();
});
