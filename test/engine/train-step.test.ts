import assert from "node:assert/strict";
import { before, test } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { initEngine } from "../../src/engine/backend.js";
import { allFinite, assertFinite, tensorGrowth } from "../../src/engine/checks.js";
import { Rng } from "../../src/engine/rng.js";
import { trainStep } from "../../src/engine/train-step.js";
import { BatchNorm } from "../../src/nn/batch-norm.js";
import { LayerNorm } from "../../src/nn/layer-norm.js";
import { Mlp } from "../../src/nn/mlp.js";
import { Module } from "../../src/nn/module.js";

before(() => initEngine());

class TinyNet extends Module {
  readonly mlp: Mlp;
  readonly norm: LayerNorm;
  readonly bn: BatchNorm;
  constructor(rng: Rng) {
    super();
    this.mlp = this.module("mlp", new Mlp(4, 16, 1, { rng, dropout: 0.1 }));
    this.norm = this.module("norm", new LayerNorm(4));
    this.bn = this.module("bn", new BatchNorm(4));
  }
  forward(x: tf.Tensor): tf.Tensor {
    return this.mlp.forward(this.norm.forward(this.bn.forward(x)));
  }
}

function regressionTask() {
  const x = tf.randomNormal([32, 4], 0, 1, "float32", 1);
  const y = x.sum(1, true).mul(0.5);
  return { x, y };
}

test("trainStep reduces the loss of a small regression", () => {
  const net = new TinyNet(new Rng(0));
  const opt = tf.train.adam(1e-2);
  const { x, y } = regressionTask();
  const loss = () => tf.losses.meanSquaredError(y, net.forward(x)) as tf.Scalar;
  const first = trainStep(opt, net.namedParameters(), loss).loss;
  let last = first;
  for (let i = 0; i < 60; i++) last = trainStep(opt, net.namedParameters(), loss).loss;
  assert.ok(last < first * 0.5, `loss ${first} → ${last}`);
  net.dispose();
  opt.dispose();
});

test("repeated training steps leak no tensors (BatchNorm stats, dropout and Adam state included)", () => {
  const net = new TinyNet(new Rng(1));
  const opt = tf.train.adam(1e-3);
  const { x, y } = regressionTask();
  const step = () => {
    trainStep(opt, net.namedParameters(), () => tf.losses.meanSquaredError(y, net.forward(x)) as tf.Scalar, {
      clipGradNorm: 1,
    });
  };
  assert.deepEqual(tensorGrowth(step, 5, 2), { tensors: 0, bytes: 0 });
  net.dispose();
  opt.dispose();
});

test("a NaN loss or gradient skips the update and names the parameters", () => {
  const net = new TinyNet(new Rng(2));
  const opt = tf.train.sgd(0.1);
  const before = net.mlp.fc2.weight.dataSync().slice();
  const x = tf.randomNormal([8, 4]);
  const result = trainStep(
    opt,
    net.namedParameters(),
    () => net.forward(x).mul(Number.NaN).mean() as tf.Scalar,
  );
  assert.equal(result.skipped, true);
  assert.deepEqual(result.nonFinite, ["loss"]);
  assert.deepEqual(net.mlp.fc2.weight.dataSync(), before);
  const sqrtLoss = () => tf.sqrt(net.mlp.fc2.bias!.sub(net.mlp.fc2.bias!)).sum() as tf.Scalar; // d sqrt(0) = Inf
  const r2 = trainStep(opt, net.namedParameters(), sqrtLoss);
  assert.equal(r2.skipped, true);
  assert.deepEqual(r2.nonFinite, ["mlp.fc2.bias"]);
  net.dispose();
});

test("gradient clipping bounds the applied update", () => {
  const w = tf.variable(tf.tensor1d([0, 0]));
  const opt = tf.train.sgd(1);
  const r = trainStep(opt, [["w", w]], () => w.mul(tf.tensor1d([300, 400])).sum() as tf.Scalar, {
    clipGradNorm: 1,
  });
  assert.ok(Math.abs(r.gradNorm - 500) < 1e-3);
  const [a, b] = w.dataSync();
  assert.ok(Math.abs(Math.hypot(a, b) - 1) < 1e-4, `update norm ${Math.hypot(a, b)}`);
});

test("finiteness helpers name the bad tensors", () => {
  assert.equal(allFinite(tf.tensor1d([1, 2])), true);
  assert.equal(allFinite(tf.tensor1d([1, Number.POSITIVE_INFINITY])), false);
  assert.throws(
    () => assertFinite({ ok: tf.scalar(1), bad: tf.scalar(Number.NaN) }, "logits"),
    /Non-finite values \(NaN or Inf\) in logits: bad/,
  );
});
