import assert from "node:assert/strict";
import { before, test } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { initEngine } from "../../src/engine/backend.js";
import { tensorGrowth } from "../../src/engine/checks.js";
import { SetCriterion } from "../../src/train/criterion.js";
import { HungarianMatcher, type Matcher } from "../../src/train/matcher.js";
import { assertClose, onEveryKernelPath } from "../support/fixtures.js";
import { CRITERION_CASES, layerLogits, loadCriterionFixture, targetsPerImage } from "./criterion-fixture.js";

before(() => initEngine());

function assertNear(actual: number, expected: number, label: string, atol = 1e-5, rtol = 1e-4): void {
  assert.ok(
    Math.abs(actual - expected) <= atol + rtol * Math.abs(expected),
    `${label}: ${actual} ≠ ${expected}`,
  );
}

for (const name of CRITERION_CASES) {
  test(`SetCriterion matches MaskFormer's: matches, every loss term, gradients of every layer (${name})`, () => {
    const { fx, config } = loadCriterionFixture(name);
    const criterion = new SetCriterion(new HungarianMatcher());
    onEveryKernelPath((path) =>
      tf.tidy(() => {
        const targets = targetsPerImage(fx, config.target_counts);
        const layers = layerLogits(fx, config).map((t) => tf.variable(t));
        let result: ReturnType<SetCriterion["compute"]> | undefined;
        const { value, grads } = tf.variableGrads(() => {
          result = criterion.compute(layers as unknown as tf.Tensor4D[], targets);
          tf.keep(result.total);
          for (const loss of Object.values(result.losses)) tf.keep(loss);
          return result.total;
        }, layers);
        const { losses, total, matches, numMasks } = result!;
        assert.equal(numMasks, config.num_masks);
        assert.deepEqual(
          matches.map((layer) => layer.map((m) => [[...m.predIndices], [...m.targetIndices]])),
          config.matches,
          `${name} matches (${path})`,
        );
        assert.deepEqual(Object.keys(losses), Object.keys(config.losses), "loss names in MaskFormer's order");
        for (const [key, expected] of Object.entries(config.losses))
          assertNear(losses[key].dataSync()[0], expected, `${name} ${key} (${path})`);
        assertNear(total.dataSync()[0], config.total, `${name} total (${path})`);
        assertNear(value.dataSync()[0], config.total, `${name} variableGrads value (${path})`);
        for (const [layer, v] of layers.entries())
          assertClose(
            grads[v.name],
            fx.data(`grad.logits.${layer}`),
            `${name} grad layer ${layer} (${path})`,
            1e-6,
          );
        tf.dispose([total, ...Object.values(losses), ...layers]);
      }),
    );
  });
}

test("SetCriterion: a batch without targets gives zero losses, numMasks 1, zero gradients", () => {
  const logits = [tf.variable(tf.randomNormal([2, 4, 3, 3], 0, 1, "float32", 3))];
  const targets = [tf.zeros([0, 6, 6]), tf.zeros([0, 6, 6])] as tf.Tensor3D[];
  const criterion = new SetCriterion(new HungarianMatcher());
  const { value, grads } = tf.variableGrads(() => {
    const result = criterion.compute(logits as unknown as tf.Tensor4D[], targets);
    assert.equal(result.numMasks, 1);
    assert.deepEqual(Object.keys(result.losses), ["loss_mask", "loss_dice"]);
    return result.total;
  }, logits);
  assert.equal(value.dataSync()[0], 0);
  assert.ok(grads[logits[0].name].dataSync().every((g) => g === 0));
  tf.dispose([value, grads[logits[0].name], ...logits, ...targets]);
});

test("SetCriterion scores the pairs its matcher gives, with its weights, and leaks no tensors", () => {
  // A perfect prediction of each target scores far lower when matched to it than when matched crosswise.
  const targets = [tf.tensor3d([1, 1, 0, 0, 0, 0, 1, 1], [2, 2, 2])];
  const logits = [tf.tensor4d([9, 9, -9, -9, -9, -9, 9, 9], [1, 2, 2, 2])];
  const fixed = (pairs: [number, number][]): Matcher => ({
    match: () => [
      {
        predIndices: Int32Array.from(pairs, (p) => p[0]),
        targetIndices: Int32Array.from(pairs, (p) => p[1]),
      },
    ],
  });
  const straight = new SetCriterion(
    fixed([
      [0, 0],
      [1, 1],
    ]),
    { mask: 20, dice: 1 },
  );
  const crossed = new SetCriterion(
    fixed([
      [0, 1],
      [1, 0],
    ]),
    { mask: 0, dice: 1 },
  );
  const good = straight.compute(logits, targets);
  const bad = crossed.compute(logits, targets);
  assert.ok(good.total.dataSync()[0] < 1e-2, `matched total ${good.total.dataSync()[0]}`);
  assertNear(bad.total.dataSync()[0], bad.losses.loss_dice.dataSync()[0], "dice-only total");
  // Each crossed pair: 1 − (2·0 + 1)/(2 + 2 + 1) = 0.8, summed over 2 pairs, divided by 2 masks.
  assertNear(bad.total.dataSync()[0], 0.8, "crossed dice", 1e-3);
  tf.dispose([good.total, ...Object.values(good.losses), bad.total, ...Object.values(bad.losses)]);
  const growth = tensorGrowth(() => {
    const r = new SetCriterion(new HungarianMatcher()).compute(logits, targets);
    tf.dispose([r.total, ...Object.values(r.losses)]);
  });
  assert.deepEqual(growth, { tensors: 0, bytes: 0 });
  tf.dispose([...targets, ...logits]);
});

test("SetCriterion names bad inputs", () => {
  const criterion = new SetCriterion(new HungarianMatcher());
  const targets = [tf.zeros([1, 4, 4])] as tf.Tensor3D[];
  assert.throws(() => criterion.compute([], targets), /no decoder layer outputs given/);
  assert.throws(
    () => criterion.compute([tf.zeros([1, 3, 2, 2]), tf.zeros([2, 3, 2, 2])] as tf.Tensor4D[], targets),
    /SetCriterion layer 1: 2 images of predictions but 1 target mask sets/,
  );
  const twice: Matcher = {
    match: () => [{ predIndices: Int32Array.of(0, 1), targetIndices: Int32Array.of(0, 0) }],
  };
  assert.throws(
    () => new SetCriterion(twice).compute([tf.zeros([1, 3, 2, 2])] as tf.Tensor4D[], targets),
    /layer 0, image 0: the matcher paired prediction 1 with target 0, which is out of range or already matched/,
  );
  tf.dispose(targets);
});
