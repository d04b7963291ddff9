import assert from "node:assert/strict";
import { test } from "node:test";
import { PAMR_DILATIONS, PAMR_ITERATIONS, refineScores } from "../../src/infer/pamr.js";
import { Fixture } from "../support/fixtures.js";

const fixture = new Fixture("infer/pamr.safetensors");
const image = fixture.data("image"); // [H, W, 3], integer-valued
const scores = fixture.data("scores"); // [H, W, C]
const [height, width, channels] = scores.shape;
const rgb = { width, height, data: Uint8Array.from(image.data) };

function largestDifference(a: Float32Array, b: Float32Array): number {
  let largest = 0;
  for (let i = 0; i < a.length; i++) largest = Math.max(largest, Math.abs(a[i] - b[i]));
  return largest;
}

for (const name of ["small", "tcl"]) {
  test(`PAMR refines score maps as the PyTorch reference does (${name})`, () => {
    const settings = (fixture.config as Record<string, { iterations: number; dilations: number[] }>)[name];
    const refined = refineScores(scores.data, channels, rgb, settings);
    const expected = fixture.data(`refined.${name}`).data;
    assert.ok(
      largestDifference(refined, expected) < 1e-5,
      `largest difference ${largestDifference(refined, expected)}`,
    );
    assert.ok(largestDifference(refined, scores.data) > 1e-2, "the refinement changes the scores");
  });
}

test("PAMR: TCL's settings are the default; the input is left as it is; a bad size is one clear error", () => {
  assert.equal(PAMR_ITERATIONS, 10);
  assert.deepEqual(PAMR_DILATIONS, [1, 2, 4, 8, 12, 24]);
  const copy = Float32Array.from(scores.data);
  const tcl = { iterations: 10, dilations: [1, 2, 4, 8, 12, 24] };
  assert.deepEqual(refineScores(scores.data, channels, rgb), refineScores(scores.data, channels, rgb, tcl));
  assert.deepEqual(scores.data, copy);
  assert.deepEqual(refineScores(scores.data, channels, rgb, { iterations: 0 }), scores.data);
  assert.throws(
    () => refineScores(scores.data, channels + 1, rgb),
    /do not fit a 31×23 image with 5 channels/,
  );
});
