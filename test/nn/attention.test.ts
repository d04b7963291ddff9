import { before, test } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { initEngine } from "../../src/engine/backend.js";
import { Rng } from "../../src/engine/rng.js";
import { Attention, MultiheadAttention } from "../../src/nn/attention.js";
import { checkAgainstFixture, Fixture } from "../support/fixtures.js";

before(() => initEngine());

test("Attention (fused qkv) matches timm/DINO attention", () => {
  const fx = new Fixture("nn/attention.safetensors");
  const layer = new Attention(8, 2, { rng: new Rng(1) });
  fx.loadInto(layer);
  checkAgainstFixture(fx, ({ x }) => layer.forward(x as tf.Tensor3D), { module: layer });
  layer.dispose();
});

test("Attention with an additive bias (relative positions) matches, including the bias gradient", () => {
  const fx = new Fixture("nn/attention_bias.safetensors");
  const layer = new Attention(8, 2, { rng: new Rng(1) });
  fx.loadInto(layer);
  checkAgainstFixture(fx, ({ x, bias }) => layer.forward(x as tf.Tensor3D, { bias }), {
    module: layer,
    inputs: ["x", "bias"],
  });
  layer.dispose();
});

test("MultiheadAttention matches torch.nn.MultiheadAttention with a key padding mask", () => {
  const fx = new Fixture("nn/multihead_attention.safetensors");
  const layer = new MultiheadAttention(8, 2, { rng: new Rng(1) });
  fx.loadInto(layer);
  checkAgainstFixture(
    fx,
    ({ query, key, value, key_padding_mask }) =>
      layer.forward(query as tf.Tensor3D, key as tf.Tensor3D, value as tf.Tensor3D, {
        keyPaddingMask: key_padding_mask,
      }),
    {
      module: layer,
      inputs: ["query", "key", "value", "key_padding_mask"],
      gradInputs: ["query", "key", "value"],
    },
  );
  layer.dispose();
});

test("attention rejects a width not divisible by the head count", (t) => {
  t.assert.throws(() => new Attention(10, 3, { rng: new Rng(1) }), /dim 10 is not divisible by 3 heads/);
  t.assert.throws(
    () => new MultiheadAttention(10, 4, { rng: new Rng(1) }),
    /dim 10 is not divisible by 4 heads/,
  );
});

test("a padded key gets no attention weight", () => {
  const layer = new MultiheadAttention(4, 1, { rng: new Rng(3) });
  const q = tf.randomNormal([1, 2, 4]) as tf.Tensor3D;
  const k = tf.randomNormal([1, 3, 4]) as tf.Tensor3D;
  const v = tf.randomNormal([1, 3, 4]) as tf.Tensor3D;
  const mask = tf.tensor2d([[0, 0, 1]], [1, 3], "bool");
  const a = layer.forward(q, k, v, { keyPaddingMask: mask }).arraySync();
  const vChanged = tf.concat([v.slice([0, 0, 0], [1, 2, 4]), tf.fill([1, 1, 4], 1e3)], 1) as tf.Tensor3D;
  const kChanged = tf.concat([k.slice([0, 0, 0], [1, 2, 4]), tf.fill([1, 1, 4], -7)], 1) as tf.Tensor3D;
  const b = layer.forward(q, kChanged, vChanged, { keyPaddingMask: mask }).arraySync();
  for (let i = 0; i < 2; i++)
    for (let j = 0; j < 4; j++) {
      if (Math.abs(a[0][i][j] - b[0][i][j]) > 1e-5)
        throw new Error(`padded key leaked into output at ${i},${j}`);
    }
  layer.dispose();
});
