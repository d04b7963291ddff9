import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { before, test } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { initEngine } from "../../src/engine/backend.js";
import { Rng } from "../../src/engine/rng.js";
import {
  maskformerPixelDecoder,
  PixelDecoder,
  type PixelDecoderConfig,
  smallPixelDecoder,
  upsampleNearest,
} from "../../src/model/pixel-decoder.js";
import { resize } from "../../src/nn/resize.js";
import {
  assertClose,
  counterUniform,
  Fixture,
  fixturePath,
  type ManifestEntry,
  manifestStateDict,
  onEveryKernelPath,
} from "../support/fixtures.js";
import { FEATURES, featureMaps, stateUnder } from "../support/maskformer-head.js";

before(() => initEngine());

test("the pixel decoder loaded from MaskFormer's names matches BasePixelDecoder's mask features and gradients", () => {
  const fx = new Fixture("model/maskformer_head.safetensors");
  const cfg = fx.config as {
    backbone_channels: number[];
    conv_dim: number;
    mask_dim: number;
    norm_groups: number;
  };
  const decoder = new PixelDecoder({
    inChannels: cfg.backbone_channels as unknown as PixelDecoderConfig["inChannels"],
    convDim: cfg.conv_dim,
    maskDim: cfg.mask_dim,
    normGroups: cfg.norm_groups,
  }).eval();
  decoder.loadStateDict(
    stateUnder(manifestStateDict(fx.config["weights"] as ManifestEntry[]), "pixel_decoder."),
  );
  const checked = ["adapter_1.weight", "adapter_3.norm.weight", "layer_1.norm.weight", "layer_1.norm.bias"]
    .concat(["layer_4.weight", "layer_4.norm.weight", "mask_features.bias"])
    .map((name) => [name, decoder.stateDict().get(name)!] as const);
  onEveryKernelPath((path) => {
    tf.tidy(() => {
      const inputs = FEATURES.map((name) => tf.variable(fx.tensor(`input.${name}`), true));
      const features = featureMaps(inputs);
      let maskFeatures: tf.Tensor | undefined;
      const { grads } = tf.variableGrads(() => {
        maskFeatures = tf.keep(decoder.forward(features).maskFeatures);
        const cotangent = tf.tensor(
          Float32Array.from(counterUniform(1001, maskFeatures.size)),
          maskFeatures.shape,
        );
        return maskFeatures.mul(cotangent).sum() as tf.Scalar;
      }, [...inputs, ...checked.map(([, v]) => v)]);
      assertClose(maskFeatures!, fx.data("mask_features"), `mask features (${path})`, 1e-4);
      FEATURES.forEach((name, i) => {
        assertClose(
          grads[inputs[i].name],
          fx.data(`grad.pixel.input.${name}`),
          `d/d${name} (${path})`,
          1e-4,
          1e-3,
        );
      });
      for (const [name, v] of checked)
        assertClose(grads[v.name], fx.data(`grad.pixel.state.${name}`), `d/d${name} (${path})`, 1e-4, 1e-3);
      for (const v of inputs) v.dispose();
    });
  });
  decoder.dispose();
});

interface PresetReference {
  config: { backbone_channels: number[] };
  parameters: { pixel_decoder: number };
  "448": { mask_features: number[] };
  keys: [string, number[]][];
}

const presets = JSON.parse(readFileSync(fixturePath("model/maskformer_head_presets.json"), "utf8")) as Record<
  string,
  PresetReference
>;
const swinSmallChannels = [96, 192, 384, 768] as const;

for (const [name, preset] of [
  ["paper", maskformerPixelDecoder],
  ["small", smallPixelDecoder],
] as const) {
  test(`${name} configuration on Swin-S: MaskFormer's state-dict keys, shapes and parameter count`, () => {
    const reference = presets[name];
    assert.deepEqual(reference.config.backbone_channels, swinSmallChannels);
    const decoder = new PixelDecoder({ inChannels: swinSmallChannels, ...preset }, { rng: new Rng(3) });
    const expected = reference.keys
      .filter(([key]) => key.startsWith("pixel_decoder."))
      .map(([key, shape]) => [key.slice("pixel_decoder.".length), shape]);
    assert.deepEqual(
      [...decoder.stateDict()].map(([key, v]) => [key, v.shape]),
      expected,
    );
    assert.equal(decoder.parameterCount(), reference.parameters.pixel_decoder);
    decoder.dispose();
  });
}

test("paper configuration: mask features at stride 4 (64×96 here; 448² gives PyTorch's 112×112)", () => {
  const decoder = new PixelDecoder({ inChannels: swinSmallChannels, ...maskformerPixelDecoder }).eval();
  assert.deepEqual(presets["paper"]["448"].mask_features, [1, 448 / 4, 448 / 4, 256]);
  tf.tidy(() => {
    const features = featureMaps(
      swinSmallChannels.map((channels, i) => {
        const stride = 4 * 2 ** i;
        return tf.randomNormal([2, 64 / stride, 96 / stride, channels], 0, 1, "float32", i);
      }),
    );
    const { maskFeatures, transformerInput } = decoder.forward(features);
    assert.deepEqual(maskFeatures.shape, [2, 16, 24, 256]);
    assert.equal(transformerInput, features.res5);
    assert.ok(maskFeatures.isFinite().all().dataSync()[0]);
  });
  decoder.dispose();
});

test("upsampleNearest equals F.interpolate(mode='nearest') (resize) at whole factors and otherwise", () => {
  tf.tidy(() => {
    const x = tf.randomNormal([2, 3, 5, 4], 0, 1, "float32", 4) as tf.Tensor4D;
    for (const size of [
      [6, 10],
      [9, 5],
      [7, 11],
    ] as [number, number][]) {
      const expected = resize(x, size, { mode: "nearest" });
      assertClose(
        upsampleNearest(x, size),
        { shape: expected.shape, data: expected.dataSync() as Float32Array },
        `${size}`,
        0,
        0,
      );
    }
  });
});

test("MaskFormer's init: c2_xavier_fill convolutions (U(±√(3/fan_in)), zero bias), GroupNorm 1 and 0", () => {
  const decoder = new PixelDecoder({ inChannels: [8, 16, 24, 40], convDim: 64, maskDim: 32, normGroups: 32 });
  const state = decoder.stateDict();
  for (const [key, fanIn] of [
    ["adapter_2.weight", 16],
    ["layer_4.weight", 40 * 9],
    ["mask_features.weight", 64 * 9],
  ] as const) {
    const values = state.get(key)!.dataSync() as Float32Array;
    const bound = Math.sqrt(3 / fanIn);
    const max = values.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
    assert.ok(max <= bound && max > 0.9 * bound, `${key}: max |w| ${max}, bound ${bound}`);
  }
  assert.ok(
    state
      .get("mask_features.bias")!
      .dataSync()
      .every((v) => v === 0),
  );
  assert.ok(
    state
      .get("layer_2.norm.weight")!
      .dataSync()
      .every((v) => v === 1),
  );
  assert.ok(
    state
      .get("adapter_1.norm.bias")!
      .dataSync()
      .every((v) => v === 0),
  );
  assert.equal(state.has("layer_1.bias"), false, "convolutions followed by GroupNorm have no bias");
  decoder.dispose();
});

test("wrong feature widths and wrong checkpoint keys are named in the error", () => {
  const decoder = new PixelDecoder({ inChannels: [8, 16, 24, 40], convDim: 16, maskDim: 16, normGroups: 4 });
  tf.tidy(() => {
    const features = featureMaps([
      tf.zeros([1, 8, 8, 8]),
      tf.zeros([1, 4, 4, 16]),
      tf.zeros([1, 2, 2, 25]),
      tf.zeros([1, 1, 1, 40]),
    ]);
    assert.throws(() => decoder.forward(features), /expected res4 \[1, h, w, 24\] but received \[1,2,2,25\]/);
  });
  const state = new Map(
    [...decoder.stateDict()].map(([k, v]) => [k, { shape: v.shape, data: v.dataSync() as Float32Array }]),
  );
  state.set("layer_3.norm.weights", state.get("layer_3.norm.weight")!);
  state.delete("layer_3.norm.weight");
  assert.throws(
    () => decoder.loadStateDict(state),
    (e: Error) =>
      /missing key "layer_3.norm.weight"/.test(e.message) &&
      /unexpected key "layer_3.norm.weights"/.test(e.message),
  );
  decoder.dispose();
});
