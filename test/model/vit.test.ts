import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { before, test } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { initEngine } from "../../src/engine/backend.js";
import { installedKernels } from "../../src/engine/kernels/registry.js";
import { Rng } from "../../src/engine/rng.js";
import {
  VisionTransformer,
  type ViTConfig,
  vit_base_patch8,
  vit_base_patch16,
  vit_small_patch8,
  vit_small_patch16,
} from "../../src/model/vit.js";
import {
  assertClose,
  counterUniform,
  Fixture,
  fixturePath,
  type ManifestEntry,
  manifestStateDict,
  onEveryKernelPath,
} from "../support/fixtures.js";

before(() => initEngine());

interface FixtureCase {
  batch: number;
  height: number;
  width: number;
  storedTokens: number | null;
}

test("a 2-block ViT-S/8 loaded from DINO's state-dict names matches DINO's tokens and last-block keys", () => {
  const fx = new Fixture("model/vit_s8_depth2.safetensors");
  assertClose(
    { shape: [8], data: Float32Array.from(counterUniform(1, 8)) },
    fx.data("generator_check"),
    "weight generator",
  );
  const vit = new VisionTransformer({ ...vit_small_patch8, depth: 2 }).eval();
  vit.loadStateDict(manifestStateDict(fx.config["weights"] as ManifestEntry[]));
  const cases = fx.config["cases"] as Record<string, FixtureCase>;
  onEveryKernelPath((path) => {
    for (const [name, { batch, height, width, storedTokens }] of Object.entries(cases)) {
      // 224² adds only the no-interpolation branch (plain control flow), and costs ~18 s on the stock kernels
      if (name === "224x224" && path === "stock" && installedKernels().length > 0) continue;
      tf.tidy(() => {
        const out = vit.forward(fx.tensor(`input.${name}`) as tf.Tensor4D);
        const [h, w] = [height / 8, width / 8];
        assert.deepEqual(out.gridSize, [h, w], `${name}: grid`);
        assert.deepEqual(out.patchTokens.shape, [batch, h * w, 384], `${name}: patch tokens`);
        const n = storedTokens ?? 1 + h * w;
        const firstTokens = (t: tf.Tensor3D) => t.slice([0, 0, 0], [-1, n, -1]);
        assertClose(firstTokens(out.tokens), fx.data(`tokens.${name}`), `${name} tokens (${path})`, 1e-4);
        assertClose(firstTokens(out.keys), fx.data(`keys.${name}`), `${name} keys (${path})`, 1e-4);
      });
    }
  });
  vit.dispose();
});

interface PresetReference {
  parameters: number;
  "224"?: { tokens: number[]; keys: number[] };
  "448"?: { tokens: number[]; keys: number[] };
}

const references = JSON.parse(readFileSync(fixturePath("model/vit_presets.json"), "utf8")) as Record<
  string,
  PresetReference
>;
const presets: Record<string, ViTConfig> = {
  vit_small_patch8,
  vit_small_patch16,
  vit_base_patch8,
  vit_base_patch16,
};

for (const [name, config] of Object.entries(presets)) {
  test(`${name}: parameter count and output shapes equal DINO's`, () => {
    const reference = references[name];
    const vit = new VisionTransformer(config, { rng: new Rng(7) }).eval();
    assert.equal(vit.parameterCount(), reference.parameters);
    for (const size of ["224", "448"] as const) {
      const expected = reference[size];
      if (!expected) continue;
      tf.tidy(() => {
        const out = vit.forward(
          tf.randomNormal([1, Number(size), Number(size), 3], 0, 1, "float32", 0) as tf.Tensor4D,
        );
        assert.deepEqual(out.tokens.shape, expected.tokens, `${size}²: tokens`);
        assert.deepEqual(out.keys.shape, expected.keys, `${size}²: keys`);
        const side = Number(size) / config.patchSize;
        assert.deepEqual(out.gridSize, [side, side]);
        assert.deepEqual(out.patchTokens.shape, [1, side * side, config.embedDim]);
        assert.ok(out.tokens.isFinite().all().dataSync()[0], `${size}²: finite tokens`);
      });
    }
    vit.dispose();
  });
}

test("an image size that is not a multiple of the patch size is rejected with the sizes named", () => {
  const vit = new VisionTransformer({ ...vit_small_patch8, depth: 1 });
  tf.tidy(() => {
    assert.throws(
      () => vit.forward(tf.zeros([1, 30, 32, 3]) as tf.Tensor4D),
      /image size 30×32 \(H×W\) is not a multiple of the patch size 8/,
    );
    assert.throws(
      () => vit.forward(tf.zeros([1, 32, 32, 1]) as tf.Tensor4D),
      /expected images \[B, H, W, 3\] but received \[1,32,32,1\]/,
    );
  });
  vit.dispose();
});

test("the random-ViT control is seeded: the same rng seed gives the same weights", () => {
  const config = { ...vit_small_patch16, depth: 1 };
  const [a, b, c] = [7, 7, 8].map((seed) => new VisionTransformer(config, { rng: new Rng(seed) }));
  const first = (vit: VisionTransformer) => vit.blocks.items[0].attn.qkv.weight.dataSync().slice(0, 16);
  assert.deepEqual(first(a), first(b));
  assert.notDeepEqual(first(a), first(c));
  assert.ok(
    a.blocks.items[0].attn.qkv.bias!.dataSync().every((v) => v === 0),
    "zero Linear biases",
  );
  for (const vit of [a, b, c]) vit.dispose();
});
