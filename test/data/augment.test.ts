import assert from "node:assert/strict";
import { test } from "node:test";
import {
  applyCropToImage,
  applyCropToLabelMap,
  augmentImage,
  randomResizedCropBox,
  sampleCropTransform,
} from "../../src/data/augment.js";
import { Rng } from "../../src/engine/rng.js";
import type { RgbImage } from "../../src/io/pixels.js";

/** Pixels that differ everywhere, so any change of geometry shows. */
function gradientImage(width: number, height: number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let i = 0; i < width * height; i++) {
    data[3 * i] = i % 251;
    data[3 * i + 1] = (i * 7) % 253;
    data[3 * i + 2] = (i >> 3) % 255;
  }
  return { width, height, data };
}

test("the same seed gives the same crop, flip and pixels; another seed does not", () => {
  const image = gradientImage(64, 48);
  const options = { size: 32 };
  const a = augmentImage(image, new Rng(5), options);
  assert.deepEqual(augmentImage(image, new Rng(5), options), a);
  const others = [6, 7, 8].map((seed) => augmentImage(image, new Rng(seed), options).box);
  assert.ok(others.some((box) => JSON.stringify(box) !== JSON.stringify(a.box)));
});

test("crops lie inside the image within the scale and ratio ranges, and the output size is exact", () => {
  const rng = new Rng(1);
  for (let trial = 0; trial < 500; trial++) {
    const width = 1 + rng.int(300);
    const height = 1 + rng.int(300);
    const size = { width: 1 + rng.int(40), height: 1 + rng.int(40) };
    const { box, image } = augmentImage(gradientImage(width, height), rng, { size });
    assert.ok(box.x >= 0 && box.y >= 0 && box.width >= 1 && box.height >= 1, JSON.stringify(box));
    assert.ok(
      box.x + box.width <= width && box.y + box.height <= height,
      `${JSON.stringify(box)} in ${width}×${height}`,
    );
    assert.deepEqual(
      [image.width, image.height, image.data.length],
      [size.width, size.height, size.width * size.height * 3],
    );
  }
  for (let trial = 0; trial < 500; trial++) {
    const box = randomResizedCropBox(640, 480, rng, { scale: [0.2, 0.5], ratio: [0.5, 2] });
    const area = (box.width * box.height) / (640 * 480);
    assert.ok(area > 0.19 && area < 0.51, `area fraction ${area}`);
    assert.ok(
      box.width / box.height > 0.48 && box.width / box.height < 2.05,
      `ratio ${box.width / box.height}`,
    );
  }
});

test("torchvision's fallback: the centre crop clamped to the ratio range when no draw fits", () => {
  // A 1000×10 strip: every crop with ratio ≤ 4/3 and area ≥ 8% is taller than 10 pixels.
  assert.deepEqual(randomResizedCropBox(1000, 10, new Rng(0)), { x: 493, y: 0, width: 13, height: 10 });
  assert.deepEqual(randomResizedCropBox(10, 1000, new Rng(0)), { x: 0, y: 493, width: 10, height: 13 });
  // Area fractions above 1 never fit; an in-range ratio then keeps the whole image.
  assert.deepEqual(randomResizedCropBox(40, 30, new Rng(0), { scale: [2, 3] }), {
    x: 0,
    y: 0,
    width: 40,
    height: 30,
  });
  // Sides are rounded like Python's round(): 1 × 2.5 gives 2, not 3.
  assert.deepEqual(randomResizedCropBox(1000, 1, new Rng(0), { ratio: [0.5, 2.5] }), {
    x: 499,
    y: 0,
    width: 2,
    height: 1,
  });
});

test("a flip mirrors exactly the unflipped output of the same crop", () => {
  const image = gradientImage(50, 40);
  const plain = augmentImage(image, new Rng(9), { size: 24, flipProbability: 0 });
  const flipped = augmentImage(image, new Rng(9), { size: 24, flipProbability: 1 });
  assert.deepEqual(flipped.box, plain.box);
  assert.equal(flipped.flipped, true);
  for (let y = 0; y < 24; y++) {
    for (let x = 0; x < 24; x++) {
      for (let c = 0; c < 3; c++) {
        assert.equal(flipped.image.data[(y * 24 + x) * 3 + c], plain.image.data[(y * 24 + 23 - x) * 3 + c]);
      }
    }
  }
});

test("a label map follows the image's crop, resize and flip, nearest-neighbour", () => {
  const width = 60;
  const height = 45;
  const columns = new Uint16Array(width * height).map((_, i) => 1000 + (i % width));
  const transform = sampleCropTransform(width, height, new Rng(3), { size: 20, flipProbability: 1 });
  const { box } = transform;
  const cropped = applyCropToLabelMap({ width, height, labels: columns }, transform);
  assert.deepEqual([cropped.width, cropped.height, cropped.labels.length], [20, 20, 400]);
  assert.ok(cropped.labels instanceof Uint16Array);
  const firstRow = Array.from(cropped.labels.subarray(0, 20));
  for (let y = 1; y < 20; y++)
    assert.deepEqual(Array.from(cropped.labels.subarray(20 * y, 20 * y + 20)), firstRow);
  const unflipped = [...firstRow].reverse();
  assert.equal(unflipped[0], 1000 + box.x);
  assert.ok(
    unflipped.every((label, x) => x === 0 || label >= unflipped[x - 1]),
    `${unflipped}`,
  );
  const lastColumn = 1000 + box.x + box.width - 1;
  assert.ok(
    unflipped[19] <= lastColumn && unflipped[19] >= lastColumn - Math.ceil(box.width / 20),
    `${unflipped}`,
  );
  assert.throws(
    () => applyCropToLabelMap({ width: 30, height: 45, labels: new Uint8Array(30 * 45) }, transform),
    /drawn for 60×45/,
  );
  assert.throws(
    () => applyCropToImage(gradientImage(60, 44), transform),
    /drawn for 60×45 but the image is 60×44/,
  );
});

test("options are checked before any random draw", () => {
  const rng = new Rng(0);
  assert.throws(() => sampleCropTransform(10, 10, rng, { size: 0 }), /Expected positive integers for size/);
  assert.throws(() => sampleCropTransform(10, 10, rng, { size: 8, flipProbability: 2 }), /flipProbability/);
  assert.throws(() => randomResizedCropBox(10, 10, rng, { scale: [0.5, 0.1] }), /0 < low ≤ high for scale/);
  assert.throws(() => randomResizedCropBox(10, 10, rng, { ratio: [0, 1] }), /ratio/);
});
