import assert from "node:assert/strict";
import { before, test } from "node:test";
import type * as tf from "@tensorflow/tfjs";
import { initEngine } from "../../src/engine/backend.js";
import { Rng } from "../../src/engine/rng.js";
import { Conv2d } from "../../src/nn/conv2d.js";
import { checkAgainstFixture, Fixture } from "../support/fixtures.js";

before(() => initEngine());

interface ConvCase {
  in: number;
  out: number;
  kernel: number;
  stride: number;
  padding: number;
  groups?: number;
  bias?: boolean;
}

for (const name of [
  "conv2d_3x3",
  "conv2d_3x3_s2",
  "conv2d_1x1",
  "conv2d_patch4",
  "conv2d_depthwise_3x3",
  "conv2d_depthwise_3x3_s2",
  "conv2d_depthwise_x2",
]) {
  test(`Conv2d matches torch.nn.Conv2d (${name})`, () => {
    const fx = new Fixture(`nn/${name}.safetensors`);
    const c = fx.config as unknown as ConvCase;
    const layer = new Conv2d(c.in, c.out, c.kernel, {
      rng: new Rng(1),
      stride: c.stride,
      padding: c.padding,
      groups: c.groups,
      bias: c.bias,
    });
    fx.loadInto(layer);
    checkAgainstFixture(fx, ({ x }) => layer.forward(x as tf.Tensor4D), { module: layer });
    layer.dispose();
  });
}

test("Conv2d groups other than 1 and inChannels are refused with the channel counts named", () => {
  assert.throws(
    () => new Conv2d(4, 8, 3, { rng: new Rng(1), groups: 2 }),
    /groups must be 1 or inChannels .*got groups 2 for 4 → 8 channels/,
  );
  assert.throws(() => new Conv2d(4, 6, 3, { rng: new Rng(1), groups: 4 }), /got groups 4 for 4 → 6/);
  const depthwise = new Conv2d(4, 8, 3, { rng: new Rng(1), groups: 4 });
  assert.deepEqual(depthwise.weight.shape, [8, 1, 3, 3]);
  depthwise.dispose();
});
