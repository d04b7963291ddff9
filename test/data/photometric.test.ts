import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import {
  applyPhotometric,
  hsvToRgb,
  MMSEG_PHOTOMETRIC,
  type PhotometricDraw,
  rgbToHsv,
  samplePhotometric,
} from "../../src/data/photometric.js";
import { Rng } from "../../src/engine/rng.js";
import { fixturePath } from "../support/fixtures.js";

interface PhotometricFixture {
  rgbToHsv: { rgb: number[]; hsv: number[] };
  hsvToRgb: { hsv: number[]; rgb: number[] };
  image: { width: number; height: number; rgb: number[] };
  cases: { draw: PhotometricDraw; rgb: number[] }[];
}

const fixture: PhotometricFixture = JSON.parse(readFileSync(fixturePath("images/photometric.json"), "utf8"));

test("RGB → HSV is OpenCV's 8-bit conversion to the value", () => {
  assert.deepEqual([...rgbToHsv(Uint8Array.from(fixture.rgbToHsv.rgb))], fixture.rgbToHsv.hsv);
});

test("HSV → RGB is OpenCV's 8-bit conversion to the value", () => {
  assert.deepEqual([...hsvToRgb(Uint8Array.from(fixture.hsvToRgb.hsv))], fixture.hsvToRgb.rgb);
});

test("each distortion matches mmseg's steps run with cv2 on the same parameters", () => {
  const { width, height, rgb } = fixture.image;
  const image = { width, height, data: Uint8Array.from(rgb) };
  for (const { draw, rgb: expected } of fixture.cases) {
    const out = applyPhotometric(image, draw);
    assert.deepEqual([...out.data], expected, JSON.stringify(draw));
    assert.deepEqual([out.width, out.height], [width, height]);
  }
  assert.deepEqual([...image.data], rgb, "the input is left as it was");
});

test("draws follow mmseg's ranges and chances, and the same generator gives the same draw", () => {
  const rng = new Rng(3);
  const draws = Array.from({ length: 4000 }, () => samplePhotometric(rng));
  const share = (pick: (d: PhotometricDraw) => unknown) =>
    draws.filter((d) => pick(d) !== undefined).length / draws.length;
  for (const pick of [
    (d: PhotometricDraw) => d.brightness,
    (d: PhotometricDraw) => d.contrast,
    (d: PhotometricDraw) => d.saturation,
    (d: PhotometricDraw) => d.hue,
    (d: PhotometricDraw) => (d.contrastFirst ? true : undefined),
  ])
    assert.ok(Math.abs(share(pick) - 0.5) < 0.03, `${share(pick)}`);
  const { brightnessDelta, contrastRange, hueDelta } = MMSEG_PHOTOMETRIC;
  for (const d of draws) {
    if (d.brightness !== undefined) assert.ok(Math.abs(d.brightness) <= brightnessDelta);
    if (d.contrast !== undefined) assert.ok(d.contrast >= contrastRange[0] && d.contrast < contrastRange[1]);
    if (d.hue !== undefined) assert.ok(Number.isInteger(d.hue) && d.hue >= -hueDelta && d.hue < hueDelta);
  }
  assert.deepEqual(samplePhotometric(new Rng(9)), samplePhotometric(new Rng(9)));
});

test("a draw that skips every step returns an equal copy", () => {
  const image = { width: 2, height: 1, data: Uint8Array.of(1, 2, 3, 200, 100, 0) };
  const out = applyPhotometric(image, { contrastFirst: false });
  assert.deepEqual(out, image);
  assert.notEqual(out.data, image.data);
});
