import assert from "node:assert/strict";
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { before, test } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { initEngine } from "../../src/engine/backend.js";
import type { RgbImage } from "../../src/io/pixels.js";
import type { TensorToWrite } from "../../src/io/safetensors.js";
import { writeSafetensors } from "../../src/io/safetensors-file.js";
import type { TensorData } from "../../src/nn/module.js";
import { resize } from "../../src/nn/resize.js";
import { gridLabelsToMasks, openFeatureSource, pseudoMasks } from "../../src/pseudo/index.js";
import { assertClose, Fixture, type ManifestEntry, manifestStateDict } from "../support/fixtures.js";

before(() => initEngine());

/** A 64×48 image: left half red, right half blue, with a green square in the top-left corner. */
function twoRegionImage(): RgbImage {
  const width = 64;
  const height = 48;
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = (y * width + x) * 3;
      const colour = x < 16 && y < 16 ? [20, 200, 30] : x < 32 ? [210, 30, 20] : [20, 40, 220];
      data.set(colour, p);
    }
  }
  return { width, height, data };
}

test("gridLabelsToMasks upsamples with nearest neighbour, renumbers, and drops empty clusters", () => {
  const labels = [5, 5, 2, 2, 5, 7]; // 3×2 grid, cluster ids with gaps
  const result = gridLabelsToMasks(labels, 3, 2, 6, 4);
  assert.equal(result.masks.length, 3);
  // grid rows [5 5 2] and [2 5 7] → ids by first appearance: 5 → 0, 2 → 1, 7 → 2
  assert.deepEqual([...result.labelMap.slice(0, 6)], [0, 0, 0, 0, 1, 1]);
  assert.deepEqual([...result.labelMap.slice(18, 24)], [1, 1, 0, 0, 2, 2]);
  const covered = result.masks.reduce((s, m) => s + m.reduce((a, b) => a + b, 0), 0);
  assert.equal(covered, 24, "every pixel in exactly one mask");
  assert.throws(() => gridLabelsToMasks([1, 2], 3, 2, 6, 4), /expected 3×2 = 6 values, got 2/);
});

test("rgb pseudo-masks with K = 3 recover the three coloured regions exactly", async () => {
  const source = await openFeatureSource("rgb");
  const image = twoRegionImage();
  const result = pseudoMasks(source, image, { k: 3, seed: 1 });
  assert.equal(result.masks.length, 3);
  const labelAt = (x: number, y: number) => result.labelMap[y * image.width + x];
  assert.notEqual(labelAt(4, 4), labelAt(20, 30));
  assert.notEqual(labelAt(20, 30), labelAt(50, 10));
  // each region is one cluster: the 8×8 cells never straddle a colour boundary here
  for (const [x0, y0, x1, y1] of [
    [0, 0, 16, 16],
    [16, 16, 32, 48],
    [32, 0, 64, 48],
  ]) {
    const id = labelAt(x0, y0);
    for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) assert.equal(labelAt(x, y), id);
  }
});

test("pseudo-masks are deterministic for a seed and keep the input size when it is not a multiple of 8", async () => {
  const source = await openFeatureSource("rgb");
  const image = twoRegionImage();
  const odd = { width: 61, height: 45, data: image.data.slice(0, 61 * 45 * 3) };
  const a = pseudoMasks(source, odd, { k: 4, seed: 3 });
  const b = pseudoMasks(source, odd, { k: 4, seed: 3 });
  assert.deepEqual(a.labelMap, b.labelMap);
  assert.equal(a.labelMap.length, 61 * 45);
});

test("a random ViT-S/8 gives stride-8 features and masks (the control source)", async () => {
  const source = await openFeatureSource("random-vit", { seed: 2 });
  const features = source.extract({ width: 32, height: 16, data: new Uint8Array(32 * 16 * 3).fill(90) });
  assert.deepEqual([features.gridH, features.gridW, features.dim], [2, 4, 384]);
  assert.equal(features.features.length, 8 * 384);
  source.dispose();
});

test("unknown feature sources and bad sizes are clear errors", async () => {
  await assert.rejects(
    openFeatureSource("sift"),
    /unknown feature source "sift"; expected one of auto, rgb, dino:/,
  );
  const source = await openFeatureSource("rgb");
  assert.throws(
    () => source.extract({ width: 12, height: 8, data: new Uint8Array(12 * 8 * 3) }),
    /12×8 is not a positive multiple of 8/,
  );
});

/** A converted-MobileNetV2-like file holding the generated weights of tools/oracles/mobilenet_v2_fixtures.mjs. */
async function mobilenetFile(fx: Fixture, edit: (state: Map<string, TensorData>) => void = () => {}) {
  const state = manifestStateDict(fx.config["weights"] as ManifestEntry[]);
  edit(state);
  const path = join(await mkdtemp(join(tmpdir(), "sseg-mobilenet-")), "mobilenet.safetensors");
  await writeSafetensors(path, Object.fromEntries(state) as Record<string, TensorToWrite>);
  return path;
}

test("mobilenet:<file> features: nsfwjs's stride-8 and upsampled stride-16 activations, each unit length", async () => {
  const fx = new Fixture("model/mobilenet_v2.safetensors");
  const source = await openFeatureSource(`mobilenet:${await mobilenetFile(fx)}`);
  assert.deepEqual([source.stride, source.cosine], [8, true]);
  const pixels = fx.data("input.48x80");
  const features = source.extract({ width: 80, height: 48, data: Uint8Array.from(pixels.data) });
  assert.deepEqual([features.gridH, features.gridW, features.dim], [6, 10, 128]);
  const expected = tf.tidy(() => {
    const unit = (t: tf.Tensor) => t.div(t.norm("euclidean", -1, true));
    const stride16 = resize(fx.tensor("stride16.48x80") as tf.Tensor4D, [6, 10], { mode: "bilinear" });
    const both = tf.concat([unit(fx.tensor("stride8.48x80")), unit(stride16)], 3);
    return { shape: both.shape, data: both.dataSync() as Float32Array };
  });
  assertClose({ shape: expected.shape, data: features.features }, expected, "mobilenet features", 1e-5);
  assert.throws(
    () => source.extract({ width: 20, height: 16, data: new Uint8Array(20 * 16 * 3) }),
    /20×16 is not a positive multiple of 8/,
  );
  source.dispose();
});

test("a mobilenet weights file with a wrong key, or none, is a clear error", async () => {
  const fx = new Fixture("model/mobilenet_v2.safetensors");
  const renamed = await mobilenetFile(fx, (state) => {
    state.set("stem.conv.kernel", state.get("stem.conv.weight")!);
    state.delete("stem.conv.weight");
  });
  await assert.rejects(
    openFeatureSource(`mobilenet:${renamed}`),
    (err: Error) =>
      err.message.includes(`mobilenet:${renamed} is not a converted nsfwjs MobileNetV2`) &&
      err.message.includes("tools/convert-nsfwjs-mobilenet.mjs") &&
      err.message.includes('missing key "stem.conv.weight" (expected shape [32,3,3,3])') &&
      err.message.includes('unexpected key "stem.conv.kernel"'),
  );
  const missing = join(tmpdir(), `sseg-no-such-dir-${process.pid}`, "mobilenet_v2_nsfwjs.safetensors");
  await assert.rejects(openFeatureSource(`mobilenet:${missing}`), /cannot read \(ENOENT\)/);
});
