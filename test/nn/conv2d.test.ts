import { before, test } from "node:test";
import type * as tf from "@tensorflow/tfjs";
import { initEngine } from "../../src/engine/backend.js";
import { Rng } from "../../src/engine/rng.js";
import { Conv2d } from "../../src/nn/conv2d.js";
import { checkAgainstFixture, Fixture } from "../support/fixtures.js";

before(() => initEngine());

for (const name of ["conv2d_3x3", "conv2d_3x3_s2", "conv2d_1x1", "conv2d_patch4"]) {
  test(`Conv2d matches torch.nn.Conv2d (${name})`, () => {
    const fx = new Fixture(`nn/${name}.safetensors`);
    const c = fx.config as { in: number; out: number; kernel: number; stride: number; padding: number };
    const layer = new Conv2d(c.in, c.out, c.kernel, {
      rng: new Rng(1),
      stride: c.stride,
      padding: c.padding,
    });
    fx.loadInto(layer);
    checkAgainstFixture(fx, ({ x }) => layer.forward(x as tf.Tensor4D), { module: layer });
    layer.dispose();
  });
}
