import { before, test } from "node:test";
import { initEngine } from "../../src/engine/backend.js";
import { Rng } from "../../src/engine/rng.js";
import { gelu, geluTanh } from "../../src/nn/activations.js";
import { Mlp } from "../../src/nn/mlp.js";
import { checkAgainstFixture, Fixture } from "../support/fixtures.js";

before(() => initEngine());

test("Mlp (fc1 → exact GELU → fc2) matches PyTorch", () => {
  const fx = new Fixture("nn/mlp.safetensors");
  const layer = new Mlp(6, 12, 6, { rng: new Rng(1) });
  fx.loadInto(layer);
  checkAgainstFixture(fx, ({ x }) => layer.forward(x), { module: layer });
  layer.dispose();
});

test("gelu matches F.gelu (exact, erf)", () => {
  checkAgainstFixture(new Fixture("nn/gelu.safetensors"), ({ x }) => gelu(x));
});

test("geluTanh matches F.gelu(approximate='tanh')", () => {
  checkAgainstFixture(new Fixture("nn/gelu_tanh.safetensors"), ({ x }) => geluTanh(x));
});
