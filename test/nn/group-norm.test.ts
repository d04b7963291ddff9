import { before, test } from "node:test";
import type * as tf from "@tensorflow/tfjs";
import { initEngine } from "../../src/engine/backend.js";
import { GroupNorm } from "../../src/nn/group-norm.js";
import { checkAgainstFixture, Fixture } from "../support/fixtures.js";

before(() => initEngine());

test("GroupNorm (channels-last) matches torch.nn.GroupNorm (NCHW)", () => {
  const fx = new Fixture("nn/group_norm.safetensors");
  const c = fx.config as { groups: number; channels: number; eps: number };
  const layer = new GroupNorm(c.groups, c.channels, c.eps);
  fx.loadInto(layer);
  checkAgainstFixture(fx, ({ x }) => layer.forward(x as tf.Tensor4D), { module: layer });
  layer.dispose();
});

test("GroupNorm rejects channels not divisible by groups", (t) => {
  t.assert.throws(() => new GroupNorm(3, 8), /channels \(8\) must be divisible by groups \(3\)/);
});
