import assert from "node:assert/strict";
import { before, test } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { initEngine } from "../../src/engine/backend.js";
import { HungarianMatcher, hungarianMatch, matchingCosts } from "../../src/train/matcher.js";
import { assertClose, onEveryKernelPath } from "../support/fixtures.js";
import { CRITERION_CASES, layerLogits, loadCriterionFixture, targetsPerImage } from "./criterion-fixture.js";

before(() => initEngine());

for (const name of CRITERION_CASES) {
  test(`matchingCosts and hungarianMatch match MaskFormer's matcher, every layer (${name})`, () => {
    const { fx, config } = loadCriterionFixture(name);
    onEveryKernelPath((path) =>
      tf.tidy(() => {
        const targets = targetsPerImage(fx, config.target_counts);
        for (const [layer, logits] of layerLogits(fx, config).entries()) {
          const costs = matchingCosts(logits, targets); // [B, Q, Kmax]
          const expected = fx.data(`cost.${layer}`); // [Q, T], image b's targets as columns
          let offset = 0;
          for (const [b, count] of config.target_counts.entries()) {
            const image = costs.slice([b, 0, 0], [1, -1, count]).squeeze([0]);
            const columns = tf.tensor(expected.data, [...expected.shape]).slice([0, offset], [-1, count]);
            assertClose(
              image,
              { shape: columns.shape, data: columns.dataSync() as Float32Array },
              `${name} layer ${layer} image ${b} costs (${path})`,
              1e-5,
            );
            offset += count;
          }
          const matches = hungarianMatch(logits, targets);
          assert.deepEqual(
            matches.map((m) => [[...m.predIndices], [...m.targetIndices]]),
            config.matches[layer],
            `${name} layer ${layer} matches (${path})`,
          );
        }
      }),
    );
  });
}

test("hungarianMatch: a batch without targets gives empty matches; HungarianMatcher uses its weights", () => {
  const logits = tf.randomNormal([2, 4, 3, 3], 0, 1, "float32", 1) as tf.Tensor4D;
  const empty = [tf.zeros([0, 6, 6]), tf.zeros([0, 6, 6])] as tf.Tensor3D[];
  for (const m of hungarianMatch(logits, empty)) {
    assert.equal(m.predIndices.length, 0);
    assert.equal(m.targetIndices.length, 0);
  }
  // One target that is the whole image: dice alone prefers the most confident query, focal alone too.
  const confident = tf.tensor4d([-3, 0, 5, 1], [1, 4, 1, 1]).tile([1, 1, 2, 2]) as tf.Tensor4D;
  const whole = [tf.ones([1, 2, 2])] as tf.Tensor3D[];
  for (const weights of [
    { focal: 1, dice: 0 },
    { focal: 0, dice: 1 },
  ]) {
    const [m] = new HungarianMatcher(weights).match(confident, whole);
    assert.deepEqual([...m.predIndices, ...m.targetIndices], [2, 0]);
  }
  assert.throws(() => new HungarianMatcher({ focal: 0, dice: 0 }), /all costs can't be 0/);
  tf.dispose([logits, confident, ...empty, ...whole]);
});

test("matching records nothing on an enclosing gradient tape and leaks no tensors", () => {
  const { fx, config } = loadCriterionFixture("criterion_main");
  const targets = targetsPerImage(fx, config.target_counts);
  const logits = tf.variable(fx.tensor("input.logits.0"));
  let growth = -1;
  tf.variableGrads(() => {
    const before = tf.memory().numTensors;
    hungarianMatch(logits as unknown as tf.Tensor4D, targets);
    growth = tf.memory().numTensors - before;
    return logits.sum() as tf.Scalar;
  }, [logits]);
  // A taped cost computation would keep every intermediate for backprop; here only the customGrad node's
  // output survives until the tape ends.
  assert.ok(growth <= 1, `${growth} tensors kept by the tape`);
  tf.dispose([logits, ...targets]);
});

test("hungarianMatch names bad shapes", () => {
  const logits = tf.zeros([2, 3, 4, 4]) as tf.Tensor4D;
  const t = tf.zeros([1, 8, 8]) as tf.Tensor3D;
  assert.throws(
    () => hungarianMatch(tf.zeros([3, 4, 4]) as unknown as tf.Tensor4D, [t]),
    /expected mask logits \[B, Q, h, w\], got shape \[3,4,4\]/,
  );
  assert.throws(() => hungarianMatch(logits, [t]), /2 images of predictions but 1 target mask sets/);
  assert.throws(
    () => hungarianMatch(logits, [t, tf.zeros([8, 8]) as unknown as tf.Tensor3D]),
    /targets of image 1 must be \[K, H, W\], got \[8,8\]/,
  );
  assert.throws(
    () => hungarianMatch(logits, [t, tf.zeros([2, 8, 6]) as tf.Tensor3D]),
    /one size; image 0 has 8×8, image 1 has 8×6/,
  );
  tf.dispose([logits, t]);
});
