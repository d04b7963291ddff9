import { before, test } from "node:test";
import type * as tf from "@tensorflow/tfjs";
import { initEngine } from "../../src/engine/backend.js";
import { type InterpolationMode, resizeChannelsLast } from "../../src/nn/interpolation.js";
import { resize, resizeByScale } from "../../src/nn/resize.js";
import { assertClose, checkAgainstFixture, Fixture } from "../support/fixtures.js";

before(() => initEngine());

const cases = [
  "bilinear_up",
  "bilinear_down",
  "bilinear_align",
  "bicubic_up",
  "bicubic_down",
  "bicubic_align",
  "bicubic_scale",
  "nearest_up",
  "nearest_down",
  "nearest_x2",
];

for (const name of cases) {
  test(`resize matches F.interpolate, forward and gradient (${name})`, () => {
    const fx = new Fixture(`nn/resize_${name}.safetensors`);
    const c = fx.config as {
      mode: InterpolationMode;
      size?: [number, number];
      scale_factor?: [number, number];
      align_corners?: boolean;
    };
    const options = { mode: c.mode, alignCorners: c.align_corners ?? false };
    checkAgainstFixture(fx, ({ x }) =>
      c.scale_factor
        ? resizeByScale(x as tf.Tensor4D, c.scale_factor, options)
        : resize(x as tf.Tensor4D, c.size!, options),
    );
  });
}

for (const name of [
  "bilinear_up",
  "bilinear_down",
  "bicubic_up",
  "bicubic_down",
  "nearest_up",
  "nearest_down",
]) {
  test(`resizeChannelsLast, the loop form for post-processing, matches F.interpolate (${name})`, () => {
    const fx = new Fixture(`nn/resize_${name}.safetensors`);
    const { mode, size } = fx.config as { mode: InterpolationMode; size: [number, number] };
    const x = fx.data("input.x");
    const [n, h, w, c] = x.shape;
    const expected = fx.data("output");
    const perImage = size[0] * size[1] * c;
    const out = new Float32Array(n * perImage);
    for (let i = 0; i < n; i++) {
      const image = x.data.subarray(i * h * w * c, (i + 1) * h * w * c);
      out.set(resizeChannelsLast(image, [h, w, c], size, mode), i * perImage);
    }
    assertClose({ shape: expected.shape, data: out }, expected, name);
  });
}
