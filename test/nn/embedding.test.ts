import { before, test } from "node:test";
import { initEngine } from "../../src/engine/backend.js";
import { Rng } from "../../src/engine/rng.js";
import { Embedding } from "../../src/nn/embedding.js";
import { checkAgainstFixture, Fixture } from "../support/fixtures.js";

before(() => initEngine());

test("Embedding matches torch.nn.Embedding, with repeated ids accumulating gradient", () => {
  const fx = new Fixture("nn/embedding.safetensors");
  const layer = new Embedding(10, 4, { rng: new Rng(1) });
  fx.loadInto(layer);
  checkAgainstFixture(fx, ({ ids }) => layer.forward(ids.cast("int32")), {
    module: layer,
    inputs: ["ids"],
    gradInputs: [],
  });
  layer.dispose();
});
