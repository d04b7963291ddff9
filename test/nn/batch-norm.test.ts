import assert from "node:assert/strict";
import { before, test } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { initEngine } from "../../src/engine/backend.js";
import { BatchNorm } from "../../src/nn/batch-norm.js";
import { assertClose, checkAgainstFixture, Fixture } from "../support/fixtures.js";

before(() => initEngine());

for (const name of ["batch_norm2d_train", "batch_norm2d_eval", "batch_norm1d_train"]) {
  test(`BatchNorm matches torch (${name}), including the running statistics`, () => {
    const fx = new Fixture(`nn/${name}.safetensors`);
    const c = fx.config as { channels: number; training: boolean };
    const layer = new BatchNorm(c.channels).train(c.training);
    fx.loadInto(layer);
    checkAgainstFixture(fx, ({ x }) => layer.forward(x), { module: layer });
    fx.loadInto(layer); // the check ran one forward per kernel path; the statistics need exactly one
    layer.forward(fx.tensor("input.x")).dispose();
    assertClose(layer.runningMean, fx.data("after.running_mean"), `${name} running_mean`);
    assertClose(layer.runningVar, fx.data("after.running_var"), `${name} running_var`);
    layer.dispose();
  });
}

test("BatchNorm refuses a training batch with one value per channel", (t) => {
  const layer = new BatchNorm(3);
  t.assert.throws(() => layer.forward(tf.ones([1, 3])), /more than 1 value per channel/);
  layer.dispose();
});

test("frozen BatchNorm: the eval fixture in training mode too, no trainable parameters, statistics unchanged", () => {
  const fx = new Fixture("nn/batch_norm2d_eval.safetensors");
  const c = fx.config as { channels: number };
  const layer = new BatchNorm(c.channels, 1e-5, 0.1, true).train(true);
  fx.loadInto(layer);
  assert.deepEqual(layer.namedParameters(), []);
  assert.deepEqual(
    layer.namedBuffers().map(([name]) => name),
    ["weight", "bias", "running_mean", "running_var"],
  );
  const before = layer.runningMean.dataSync().slice();
  checkAgainstFixture(fx, ({ x }) => layer.forward(x), { module: layer });
  assert.deepEqual(layer.runningMean.dataSync(), before);
  layer.dispose();
});
