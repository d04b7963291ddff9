import { before, test } from "node:test";
import type * as tf from "@tensorflow/tfjs";
import { initEngine } from "../../src/engine/backend.js";
import { Rng } from "../../src/engine/rng.js";
import { LearnedPositionEmbedding, sinePositionEncoding } from "../../src/nn/position-encoding.js";
import { resize } from "../../src/nn/resize.js";
import { assertClose, Fixture } from "../support/fixtures.js";

before(() => initEngine());

test("sinePositionEncoding matches DETR's PositionEmbeddingSine", () => {
  const fx = new Fixture("nn/sine_position.safetensors");
  assertClose(
    { shape: [5, 7, 32], data: sinePositionEncoding(5, 7, { numPosFeats: 16, normalize: true }) },
    fx.data("normalized"),
    "normalized",
  );
  assertClose(
    { shape: [3, 4, 16], data: sinePositionEncoding(3, 4, { numPosFeats: 8 }) },
    fx.data("raw"),
    "raw",
  );
});

test("LearnedPositionEmbedding returns its grid, and a bicubic resampling for another grid size", (t) => {
  const pos = new LearnedPositionEmbedding(3, 4, 5, { rng: new Rng(2) });
  t.assert.deepEqual(pos.forward().shape, [12, 5]);
  const resampled = pos.forward(6, 2);
  const expected = resize(pos.weight.reshape([1, 3, 4, 5]) as tf.Tensor4D, [6, 2], { mode: "bicubic" });
  assertClose(
    resampled,
    { shape: [12, 5], data: expected.reshape([12, 5]).dataSync() as Float32Array },
    "resampled",
  );
  pos.dispose();
});
