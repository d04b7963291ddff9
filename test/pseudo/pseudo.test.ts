import assert from "node:assert/strict";
import { before, test } from "node:test";
import { initEngine } from "../../src/engine/backend.js";
import type { RgbImage } from "../../src/io/image.js";
import { gridLabelsToMasks, openFeatureSource, pseudoMasks } from "../../src/pseudo/index.js";

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
    /unknown feature source "sift"; expected one of rgb, dino:/,
  );
  const source = await openFeatureSource("rgb");
  assert.throws(
    () => source.extract({ width: 12, height: 8, data: new Uint8Array(12 * 8 * 3) }),
    /12×8 is not a positive multiple of 8/,
  );
});
