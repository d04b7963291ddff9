import assert from "node:assert/strict";
import { test } from "node:test";
import { normalizeImage, resizeForTest, testSize } from "../../src/data/preprocess.js";

test("normalizeImage subtracts the ImageNet mean and divides by its std, per channel", () => {
  const pixels = normalizeImage(Uint8Array.from([124, 116, 104, 0, 255, 0]));
  const expected = [
    (124 - 123.675) / 58.395,
    (116 - 116.28) / 57.12,
    (104 - 103.53) / 57.375,
    -123.675 / 58.395,
    (255 - 116.28) / 57.12,
    -103.53 / 57.375,
  ];
  for (const [i, e] of expected.entries()) assert.ok(Math.abs(pixels[i] - e) < 1e-6, `channel value ${i}`);
});

test("testSize is mmseg's Resize((2048, 448), keep_ratio) scaled to the short side", () => {
  assert.deepEqual(testSize(500, 375, 448), { width: 597, height: 448 }); // a VOC image
  assert.deepEqual(testSize(256, 256, 128), { width: 128, height: 128 });
  assert.deepEqual(testSize(4000, 100, 448), { width: 2048, height: 51 }, "the long side is capped at 2048");
  assert.deepEqual(testSize(4000, 100, 128), { width: 585, height: 15 }, "…and at 2048/448 × 128 for 128");
  assert.throws(() => testSize(10, 10, 0), /shortSide must be a positive integer/);
});

test("resizeForTest returns the image itself when it already has the test size", () => {
  const image = { width: 4, height: 2, data: new Uint8Array(24) };
  assert.equal(resizeForTest(image, 2), image);
  assert.deepEqual(
    { width: resizeForTest(image, 4).width, height: resizeForTest(image, 4).height },
    { width: 8, height: 4 },
  );
});
