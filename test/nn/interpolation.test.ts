import assert from "node:assert/strict";
import { test } from "node:test";
import { interpolationTaps } from "../../src/nn/interpolation.js";

test("bilinear taps of a 2× upsample follow the half-pixel rule and sum to 1", () => {
  const taps = interpolationTaps(2, 4, "bilinear");
  assert.deepEqual([...taps[0].index], [0, 0, 0, 1]);
  assert.deepEqual([...taps[1].index], [1, 1, 1, 1]);
  assert.deepEqual([...taps[1].weight], [0, 0.25, 0.75, 0.25]);
  for (let o = 0; o < 4; o++) assert.equal(taps[0].weight[o] + taps[1].weight[o], 1);
});

test("bicubic taps sum to 1 and clamp indices at the border", () => {
  const taps = interpolationTaps(5, 9, "bicubic");
  for (let o = 0; o < 9; o++) {
    const sum = taps.reduce((s, t) => s + t.weight[o], 0);
    assert.ok(Math.abs(sum - 1) < 1e-6, `weights at ${o} sum to ${sum}`);
    for (const t of taps) assert.ok(t.index[o] >= 0 && t.index[o] < 5);
  }
});

test("sizes must be positive integers", () => {
  assert.throws(() => interpolationTaps(0, 3, "nearest"), /positive integer for inSize but received 0/);
  assert.throws(() => interpolationTaps(3, 2.5, "bilinear"), /positive integer for outSize but received 2.5/);
});
