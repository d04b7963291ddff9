import { before, test } from "node:test";
import type * as tf from "@tensorflow/tfjs";
import { initEngine } from "../../src/engine/backend.js";
import type { InterpolationMode } from "../../src/nn/interpolation.js";
import { resize, resizeByScale } from "../../src/nn/resize.js";
import { checkAgainstFixture, Fixture } from "../support/fixtures.js";

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
