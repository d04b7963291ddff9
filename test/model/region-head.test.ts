import assert from "node:assert/strict";
import { before, test } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { initEngine } from "../../src/engine/backend.js";
import { Rng } from "../../src/engine/rng.js";
import { Projector } from "../../src/model/projector.js";
import { RegionHead } from "../../src/model/region-head.js";
import { l2Normalize } from "../../src/nn/normalize.js";
import { assertClose } from "../support/fixtures.js";

before(() => initEngine());

const dims = { maskDim: 6, queryDim: 5, outDim: 4 };

/** A head that also pools 3-channel `res4` features. */
const res4Head = (seed: number) =>
  new RegionHead(
    { hiddenDim: 8, withQuery: false, backboneLevel: "res4" },
    { ...dims, backboneDim: 3 },
    { rng: new Rng(seed) },
  );

for (const batchNorm of [false, true]) {
  test(`RegionHead: a query's embedding is the MLP of the projected features its mask covers, L2-normalised (batchNorm ${batchNorm})`, () => {
    const head = new RegionHead({ hiddenDim: 8, withQuery: false, batchNorm }, dims, { rng: new Rng(1) });
    head.train(false); // BatchNorm by its running statistics: each region's embedding independent of the others'
    assert.equal(head.mlp instanceof Projector, batchNorm);
    const features = tf.randomNormal([1, 4, 4, 6], 0, 1, "float32", 2) as tf.Tensor4D;
    // query 0 covers the top half, query 1 the bottom-left pixel (logits ±30: σ is 0 or 1 to float precision)
    const cover = [
      Array.from({ length: 16 }, (_, p) => (p < 8 ? 30 : -30)),
      Array.from({ length: 16 }, (_, p) => (p === 12 ? 30 : -30)),
    ];
    const masks = tf.tensor4d(cover.flat(), [1, 2, 4, 4]);
    const queries = tf.randomNormal([1, 2, 5]) as tf.Tensor3D;
    const regions = head.forward(features, masks, queries);
    const flat = features.reshape([16, 6]);
    const expected = [flat.slice([0, 0], [8, 6]).mean(0, true), flat.slice([12, 0], [1, 6])].map((mean) =>
      l2Normalize(head.mlp.forward(head.pixelProjection.forward(mean))),
    );
    assertClose(
      regions,
      { shape: [1, 2, 4], data: tf.concat(expected).dataSync() as Float32Array },
      "regions",
      1e-5,
    );
    const changedQueries = head.forward(features, masks, queries.mul(3) as tf.Tensor3D);
    assert.deepEqual(
      changedQueries.dataSync(),
      regions.dataSync(),
      "withQuery: false ignores the decoder's outputs",
    );
    tf.dispose([features, masks, queries, regions, changedQueries, flat, ...expected]);
    head.dispose();
  });
}

test("RegionHead: the masks are pooling weights only (no gradient reaches them); withQuery feeds the queries in", () => {
  const head = new RegionHead({ hiddenDim: 8, withQuery: true }, dims, { rng: new Rng(2) });
  const features = tf.randomNormal([2, 4, 4, 6]) as tf.Tensor4D;
  const masks = tf.randomNormal([2, 3, 4, 4]) as tf.Tensor4D;
  const queries = tf.randomNormal([2, 3, 5]) as tf.Tensor3D;
  const [dMasks, dQueries] = tf.grads((m: tf.Tensor, q: tf.Tensor) =>
    head.forward(features, m as tf.Tensor4D, q as tf.Tensor3D).sum(),
  )([masks, queries]);
  assert.equal(tf.abs(dMasks).max().dataSync()[0], 0);
  assert.ok(tf.abs(dQueries).max().dataSync()[0] > 0);
  const noObject = head.noObjectEmbedding();
  assert.deepEqual(noObject.shape, [1, 4]);
  assert.ok(Math.abs(tf.norm(noObject).dataSync()[0] - 1) < 1e-6);
  tf.dispose([features, masks, queries, dMasks, dQueries, noObject]);
  head.dispose();
});

test("RegionHead: the features' gradient through the pooling is the autodiff one of Σ σ(m)·E / Σ σ(m)", () => {
  const head = res4Head(6);
  const features = tf.randomNormal([2, 4, 4, 6], 0, 1, "float32", 7) as tf.Tensor4D;
  const res4 = tf.randomNormal([2, 2, 2, 3], 0, 1, "float32", 8) as tf.Tensor4D;
  const masks = tf.randomNormal([2, 3, 4, 4], 0, 2, "float32", 9) as tf.Tensor4D;
  const queries = tf.zeros([2, 3, 5]) as tf.Tensor3D;
  const backboneOf = (r: tf.Tensor) => ({ res2: r, res3: r, res4: r, res5: r }) as never;
  const [dFeatures, dRes4] = tf.grads((f: tf.Tensor, r: tf.Tensor) =>
    head
      .forward(f as tf.Tensor4D, masks, queries, backboneOf(r))
      .mul(tf.range(1, 25).reshape([2, 3, 4]))
      .sum(),
  )([features, res4]);
  // the reference: the same pooling written with plain ops, the weights computed outside the gradient
  const weights = tf.sigmoid(masks);
  const pool = (w: tf.Tensor, f: tf.Tensor) => {
    const [b, , , c] = f.shape;
    const flatW = w.reshape([b, 3, -1]);
    return tf.matMul(flatW, f.reshape([b, -1, c])).div(flatW.sum(2, true).add(1e-6));
  };
  const onRes4 = tf
    .avgPool(weights.transpose([0, 2, 3, 1]) as tf.Tensor4D, 2, 2, "valid")
    .transpose([0, 3, 1, 2]);
  const [refFeatures, refRes4] = tf.grads((f: tf.Tensor, r: tf.Tensor) => {
    const parts = [pool(weights, head.pixelProjection.forward(f)), pool(onRes4, r)];
    return l2Normalize(head.mlp.forward(tf.concat(parts, 2)))
      .mul(tf.range(1, 25).reshape([2, 3, 4]))
      .sum();
  })([features, res4]);
  assertClose(
    dFeatures,
    { shape: refFeatures.shape, data: refFeatures.dataSync() as Float32Array },
    "dE",
    1e-5,
  );
  assertClose(dRes4, { shape: refRes4.shape, data: refRes4.dataSync() as Float32Array }, "dRes4", 1e-5);
  tf.dispose([features, res4, masks, queries, dFeatures, dRes4, weights, onRes4, refFeatures, refRes4]);
  head.dispose();
});

test("RegionHead: backboneLevel also pools the coarser backbone features, the masks averaged down to their grid", () => {
  const head = res4Head(3);
  const features = tf.randomNormal([1, 4, 4, 6], 0, 1, "float32", 4) as tf.Tensor4D;
  const res4 = tf.randomNormal([1, 2, 2, 3], 0, 1, "float32", 5) as tf.Tensor4D;
  // query 0 covers the top-left 2×2 block (one res4 cell), query 1 the left column (half of two cells)
  const cover = [
    Array.from({ length: 16 }, (_, p) => (p % 4 < 2 && p < 8 ? 30 : -30)),
    Array.from({ length: 16 }, (_, p) => (p % 4 === 0 ? 30 : -30)),
  ];
  const masks = tf.tensor4d(cover.flat(), [1, 2, 4, 4]);
  const queries = tf.zeros([1, 2, 5]) as tf.Tensor3D;
  const backbone = { res2: res4, res3: res4, res4, res5: res4 };
  const regions = head.forward(features, masks, queries, backbone);
  const flat = features.reshape([16, 6]);
  const cells = res4.reshape([4, 3]);
  const pixelsOf = (ids: number[]) =>
    tf.stack(ids.map((p) => flat.slice([p, 0], [1, 6]).squeeze())).mean(0, true);
  const cellsOf = (ids: number[]) =>
    tf.stack(ids.map((p) => cells.slice([p, 0], [1, 3]).squeeze())).mean(0, true);
  const expected = [
    [pixelsOf([0, 1, 4, 5]), cellsOf([0])],
    [pixelsOf([0, 4, 8, 12]), cellsOf([0, 2])],
  ].map(([pixels, backboneMean]) =>
    l2Normalize(head.mlp.forward(tf.concat([head.pixelProjection.forward(pixels), backboneMean], 1))),
  );
  assertClose(
    regions,
    { shape: [1, 2, 4], data: tf.concat(expected).dataSync() as Float32Array },
    "regions",
    1e-5,
  );
  assert.throws(() => head.forward(features, masks, queries), /backboneLevel res4 but no backbone features/);
  assert.throws(
    () =>
      new RegionHead({ hiddenDim: 8, withQuery: false, backboneLevel: "res4" }, dims, { rng: new Rng(3) }),
    /needs the backbone's channels/,
  );
  tf.dispose([features, res4, masks, queries, regions, flat, cells, ...expected]);
  head.dispose();
});
