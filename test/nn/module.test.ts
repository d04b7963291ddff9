import assert from "node:assert/strict";
import { before, test } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { initEngine } from "../../src/engine/backend.js";
import { Rng } from "../../src/engine/rng.js";
import { BatchNorm } from "../../src/nn/batch-norm.js";
import { Linear } from "../../src/nn/linear.js";
import { Module, ModuleList } from "../../src/nn/module.js";

before(() => initEngine());

class Net extends Module {
  readonly layers = this.module(
    "layers",
    new ModuleList([new Linear(3, 4, { rng: new Rng(0) }), new Linear(4, 2, { rng: new Rng(1) })]),
  );
  readonly bn = this.module("bn", new BatchNorm(2));
}

test("state dict uses PyTorch's dotted names and includes buffers", () => {
  const net = new Net();
  assert.deepEqual(
    [...net.stateDict().keys()],
    [
      "layers.0.weight",
      "layers.0.bias",
      "layers.1.weight",
      "layers.1.bias",
      "bn.weight",
      "bn.bias",
      "bn.running_mean",
      "bn.running_var",
    ],
  );
  assert.equal(net.parameterCount(), 3 * 4 + 4 + 4 * 2 + 2 + 2 + 2);
  net.dispose();
});

test("loadStateDict copies values and ignores num_batches_tracked", () => {
  const src = new Net();
  const dst = new Net();
  const state = new Map(
    [...src.stateDict()].map(([k, v]) => [k, { shape: v.shape, data: v.dataSync() as Float32Array }]),
  );
  state.set("bn.num_batches_tracked", { shape: [], data: new Float32Array([3]) });
  dst.loadStateDict(state);
  assert.deepEqual(dst.layers.items[1].weight.dataSync(), src.layers.items[1].weight.dataSync());
  src.dispose();
  dst.dispose();
});

test("loadStateDict leaves no tensors behind", () => {
  const net = new Net();
  const state = new Map(
    [...net.stateDict()].map(([k, v]) => [k, { shape: v.shape, data: v.dataSync() as Float32Array }]),
  );
  const before = tf.memory().numTensors;
  net.loadStateDict(state);
  assert.equal(tf.memory().numTensors, before);
  net.dispose();
});

test("loadStateDict names every missing, unexpected and mis-shaped key", () => {
  const net = new Net();
  const state = new Map(
    [...net.stateDict()].map(([k, v]) => [k, { shape: v.shape, data: v.dataSync() as Float32Array }]),
  );
  state.delete("layers.0.bias");
  state.set("layers.1.weight", { shape: [2, 5], data: new Float32Array(10) });
  state.set("head.weight", { shape: [1], data: new Float32Array(1) });
  assert.throws(
    () => net.loadStateDict(state),
    (err: Error) => {
      assert.match(err.message, /missing key "layers\.0\.bias" \(expected shape \[4\]\)/);
      assert.match(
        err.message,
        /key "layers\.1\.weight": checkpoint shape \[2,5\] but the model expects \[2,4\]/,
      );
      assert.match(err.message, /unexpected key "head\.weight"/);
      return true;
    },
  );
  state.set("layers.1.weight", { shape: [2, 4], data: new Float32Array(8) });
  net.loadStateDict(state, { strict: false });
  assert.deepEqual([...net.layers.items[1].weight.dataSync()], new Array(8).fill(0));
  net.dispose();
});

test("train()/eval() propagate to every child", () => {
  const net = new Net().eval();
  assert.equal(net.bn.training, false);
  assert.equal(net.layers.items[0].training, false);
  net.train();
  assert.equal(net.bn.training, true);
  net.dispose();
});

test("a disposed module frees every tensor it made, initial weights included, even after loading weights", () => {
  const before = tf.memory().numTensors;
  const net = new Net();
  net.loadStateDict(
    new Map(
      [...net.stateDict()].map(([name, v]) => [name, { shape: v.shape, data: v.dataSync() as Float32Array }]),
    ),
  );
  net.dispose();
  assert.equal(tf.memory().numTensors, before);
});
