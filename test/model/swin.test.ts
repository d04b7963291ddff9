import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { before, test } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { initEngine } from "../../src/engine/backend.js";
import { Rng } from "../../src/engine/rng.js";
import {
  SWIN_OUTPUTS,
  type SwinConfig,
  type SwinFeatures,
  SwinTransformer,
  swin_nano,
  swin_small,
  swin_tiny,
} from "../../src/model/swin.js";
import { StateDictError, type TensorData } from "../../src/nn/module.js";
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

/** The oracle's small Swin (tools/oracles/swin_fixtures.py): embed 24, two blocks per stage, window 7. */
const embed24: SwinConfig = {
  patchSize: 4,
  inChannels: 3,
  embedDim: 24,
  depths: [2, 2, 2, 2],
  numHeads: [1, 2, 3, 4],
  windowSize: 7,
  mlpRatio: 4,
  qkvBias: true,
  dropPathRate: 0.3,
};

interface FixtureCase {
  gradients: boolean;
}

const fx = new Fixture("model/swin_embed24.safetensors");

/** MaskFormer's state dict: the parameters from the weight manifest plus the relative_position_index buffers. */
function referenceStateDict(): Map<string, TensorData> {
  const state = manifestStateDict(fx.config["weights"] as ManifestEntry[]);
  for (const [name] of fx.config["stateDict"] as [string, number[]][]) {
    if (name.endsWith("relative_position_index")) state.set(name, fx.data("relative_position_index"));
  }
  return state;
}

/** The oracle's scalar: Σ over stages of Σ output · counter_uniform(1000 + stage), in NHWC order. */
function scalarOf(features: SwinFeatures): tf.Scalar {
  return tf.addN(
    SWIN_OUTPUTS.map((name, i) => {
      const out = features[name];
      return out.mul(tf.tensor(Float32Array.from(counterUniform(1000 + i, out.size)), out.shape)).sum();
    }),
  ) as tf.Scalar;
}

/** |actual − expected| ≤ tolerance · (|expected| + max |expected|): relative to the tensor's scale. */
function assertRelativelyClose(actual: tf.Tensor, expected: TensorData, label: string, tolerance: number) {
  const scale = expected.data.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  assertClose(actual, expected, label, tolerance * scale, tolerance);
}

test("MaskFormer's state-dict keys and shapes, its relative_position_index, and a clear error for a missing key", () => {
  const swin = new SwinTransformer(embed24);
  const ours = [...swin.stateDict()].map(([name, v]) => [name, v.shape]).sort();
  const theirs = (fx.config["stateDict"] as [string, number[]][]).slice().sort();
  assert.deepEqual(ours, theirs);
  assertClose(
    swin.layers.items[2].blocks.items[1].attn.relativePositionIndex,
    fx.data("relative_position_index"),
    "relative_position_index",
    0,
    0,
  );
  const state = referenceStateDict();
  state.delete("layers.1.blocks.1.attn.relative_position_bias_table");
  assert.throws(
    () => swin.loadStateDict(state),
    (err: Error) =>
      err instanceof StateDictError &&
      /missing key "layers\.1\.blocks\.1\.attn\.relative_position_bias_table" \(expected shape \[169,2\]\)/.test(
        err.message,
      ),
  );
  swin.dispose();
});

test("a small Swin with MaskFormer's weights matches its four stages and gradients (padding, shift masks, odd merges)", () => {
  const swin = new SwinTransformer(embed24).eval();
  swin.loadStateDict(referenceStateDict());
  const parameters = new Map(swin.namedParameters());
  const gradParams = fx.config["gradParams"] as string[];
  const cases = fx.config["cases"] as Record<string, FixtureCase>;
  onEveryKernelPath((path) => {
    for (const [name, { gradients }] of Object.entries(cases)) {
      tf.tidy(() => {
        const input = tf.variable(fx.tensor(`input.${name}`), true);
        let features: SwinFeatures | undefined;
        const variables = [input, ...gradParams.map((p) => parameters.get(p)!)];
        const { grads } = tf.variableGrads(() => {
          features = swin.forward(input as tf.Variable<tf.Rank.R4>);
          for (const t of Object.values(features)) tf.keep(t);
          return scalarOf(features);
        }, variables);
        for (const stage of SWIN_OUTPUTS) {
          assertClose(features![stage], fx.data(`${stage}.${name}`), `${name} ${stage} (${path})`, 1e-4);
        }
        if (gradients) {
          const inputGrad = fx.data(`grad.input.${name}`);
          assertRelativelyClose(grads[input.name], inputGrad, `${name} ∂/∂input (${path})`, 1e-4);
          for (const p of gradParams) {
            const grad = grads[parameters.get(p)!.name];
            assertRelativelyClose(grad, fx.data(`grad.${p}.${name}`), `${name} ∂/∂${p} (${path})`, 1e-4);
          }
        }
        for (const t of Object.values(features!)) t.dispose();
        input.dispose();
      });
    }
  });
  swin.dispose();
});

test("the bias follows relative_position_index as loaded; forward leaks nothing, dispose frees the cached tables", () => {
  const swin = new SwinTransformer(embed24).eval();
  const images = tf.randomNormal([1, 28, 28, 3], 0, 1, "float32", 2) as tf.Tensor4D;
  const res2 = () => tf.tidy(() => swin.forward(images).res2.dataSync().slice() as Float32Array);
  const state = referenceStateDict(); // unit-scale weights: the attention branch is far from negligible
  swin.loadStateDict(state);
  const original = res2();
  const afterFirst = tf.memory().numTensors;
  const mirrored = new Map(state);
  for (const [name, t] of state) {
    // 168 − index reads the opposite offset: each head's bias matrix transposed
    if (name.endsWith("relative_position_index"))
      mirrored.set(name, { ...t, data: t.data.map((i) => 168 - i) });
  }
  const largestChange = (values: Float32Array) =>
    Math.max(...values.map((v, i) => Math.abs(v - original[i])));
  swin.loadStateDict(mirrored);
  assert.ok(largestChange(res2()) > 0.1, "the mirrored index changes the output");
  swin.loadStateDict(state);
  // Not bit-identical: the native softmax and moments kernels differ run to run in the last bit.
  assert.ok(largestChange(res2()) < 1e-5, "the original index restores the output");
  assert.equal(tf.memory().numTensors, afterFirst, "no tensors leaked by forward or loadStateDict");
  const [held, variables] = [tf.memory().numTensors, swin.stateDict().size];
  swin.dispose();
  assert.equal(held - tf.memory().numTensors, variables + 8, "dispose frees the weights and 8 cached tables");
  images.dispose();
});

interface PresetReference {
  parameters: number;
  "448"?: Record<string, number[]>;
}

const references = JSON.parse(readFileSync(fixturePath("model/swin_presets.json"), "utf8")) as Record<
  string,
  PresetReference
>;

for (const [name, config] of Object.entries({ swin_tiny, swin_small, swin_nano })) {
  test(`${name}: parameter count equals MaskFormer's`, () => {
    const swin = new SwinTransformer(config);
    assert.equal(swin.parameterCount(), references[name].parameters);
    swin.dispose();
  });
}

test("swin_small's widths at 448² give MaskFormer's output shapes, strides and channels", () => {
  // Shapes depend on widths and input size, not depth: two blocks per stage keep it fast.
  const swin = new SwinTransformer({ ...swin_small, depths: [2, 2, 2, 2] }, { rng: new Rng(3) }).eval();
  const expected = references["swin_small"]["448"]!;
  assert.deepEqual(swin.outputShape(), {
    res2: { channels: 96, stride: 4 },
    res3: { channels: 192, stride: 8 },
    res4: { channels: 384, stride: 16 },
    res5: { channels: 768, stride: 32 },
  });
  tf.tidy(() => {
    const features = swin.forward(tf.randomNormal([1, 448, 448, 3], 0, 1, "float32", 0) as tf.Tensor4D);
    for (const stage of SWIN_OUTPUTS) {
      assert.deepEqual(features[stage].shape, expected[stage], stage);
      assert.ok(features[stage].isFinite().all().dataSync()[0], `${stage}: finite`);
    }
  });
  swin.dispose();
});

test("drop-path follows MaskFormer's linear schedule and acts only in training", () => {
  const config = { ...embed24, dropPathRate: 0.5 };
  const swin = new SwinTransformer(config, { rng: new Rng(5) });
  const rates = swin.layers.items.flatMap((layer) => layer.blocks.items.map((block) => block.dropPath.p));
  for (const [k, rate] of rates.entries()) assert.ok(Math.abs(rate - (0.5 * k) / 7) < 1e-12, `block ${k}`);
  const plain = new SwinTransformer({ ...config, dropPathRate: 0 }, { rng: new Rng(5) });
  tf.tidy(() => {
    const images = tf.randomNormal([4, 32, 32, 3], 0, 1, "float32", 1) as tf.Tensor4D;
    const res5 = (model: SwinTransformer) => model.forward(images).res5;
    const reference = res5(plain.eval());
    assertClose(
      res5(swin.eval()),
      { shape: reference.shape, data: reference.dataSync() as Float32Array },
      "eval",
    );
    const trained = res5(swin.train());
    assert.ok(trained.sub(reference).abs().max().dataSync()[0] > 1e-3, "training mode drops paths");
  });
  for (const model of [swin, plain]) model.dispose();
});

test("channels-first or wrongly shaped images and invalid configs are rejected with the shapes named", () => {
  const swin = new SwinTransformer(embed24);
  tf.tidy(() => {
    assert.throws(
      () => swin.forward(tf.zeros([1, 3, 32, 32]) as tf.Tensor4D),
      /expected channels-last images \[B, H, W, 3\] but received \[1,3,32,32\] \(channels-first\?/,
    );
    assert.throws(
      () => swin.forward(tf.zeros([32, 32, 3]) as unknown as tf.Tensor4D),
      /expected channels-last images \[B, H, W, 3\] but received \[32,32,3\]$/,
    );
  });
  swin.dispose();
  assert.throws(
    () => new SwinTransformer({ ...embed24, numHeads: [1, 2, 5, 4] }),
    /stage 2: 96 channels are not divisible by 5 heads/,
  );
});
