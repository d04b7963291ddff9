import { before, test } from "node:test";
import { initEngine } from "../../src/engine/backend.js";
import { LayerNorm } from "../../src/nn/layer-norm.js";
import { checkAgainstFixture, Fixture } from "../support/fixtures.js";

before(() => initEngine());

test("LayerNorm matches torch.nn.LayerNorm", () => {
  const fx = new Fixture("nn/layer_norm.safetensors");
  const c = fx.config as { dim: number; eps: number };
  const layer = new LayerNorm(c.dim, c.eps);
  fx.loadInto(layer);
  checkAgainstFixture(fx, ({ x }) => layer.forward(x), { module: layer });
  layer.dispose();
});
