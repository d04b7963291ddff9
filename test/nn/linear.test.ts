import { before, test } from "node:test";
import type * as tf from "@tensorflow/tfjs";
import { initEngine } from "../../src/engine/backend.js";
import { Rng } from "../../src/engine/rng.js";
import { Linear } from "../../src/nn/linear.js";
import { checkAgainstFixture, Fixture } from "../support/fixtures.js";

before(() => initEngine());

for (const name of ["linear", "linear_nobias"]) {
  test(`Linear matches torch.nn.Linear (${name})`, () => {
    const fx = new Fixture(`nn/${name}.safetensors`);
    const c = fx.config as { in: number; out: number; bias: boolean };
    const layer = new Linear(c.in, c.out, { rng: new Rng(1), bias: c.bias });
    fx.loadInto(layer);
    checkAgainstFixture(fx, ({ x }) => layer.forward(x as tf.Tensor), { module: layer });
    layer.dispose();
  });
}
