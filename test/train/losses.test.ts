import assert from "node:assert/strict";
import { before, test } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { initEngine } from "../../src/engine/backend.js";
import {
  binaryCrossEntropyWithLogits,
  contrastiveLoss,
  diceLoss,
  nounLoss,
  regionNounProbabilities,
  sigmoidFocalLoss,
  unclaimedRegionLoss,
  upsampleMaskLogits,
} from "../../src/train/losses.js";
import { checkAgainstFixture, Fixture } from "../support/fixtures.js";

before(() => initEngine());

// tools/oracles/maskformer_loss_fixtures.py divides both mask losses by num_masks = 4.
const NUM_MASKS = 4;

test("sigmoidFocalLoss matches MaskFormer's sigmoid_focal_loss, value and gradient (saturated logits included)", () => {
  checkAgainstFixture(
    new Fixture("train/mask_focal.safetensors"),
    ({ logits, targets }) =>
      sigmoidFocalLoss(logits as tf.Tensor2D, targets as tf.Tensor2D, NUM_MASKS).reshape([1]),
    { inputs: ["logits", "targets"], gradInputs: ["logits"], gradAtol: 1e-6 },
  );
});

test("diceLoss matches MaskFormer's dice_loss, value and gradient", () => {
  checkAgainstFixture(
    new Fixture("train/mask_dice.safetensors"),
    ({ logits, targets }) => diceLoss(logits as tf.Tensor2D, targets as tf.Tensor2D, NUM_MASKS).reshape([1]),
    { inputs: ["logits", "targets"], gradInputs: ["logits"], gradAtol: 1e-6 },
  );
});

for (const name of ["contrastive_base", "contrastive_clamped"]) {
  test(`contrastiveLoss matches GroupViT's loss, gradients w.r.t. both embeddings and θ (${name})`, () => {
    checkAgainstFixture(
      new Fixture(`train/${name}.safetensors`),
      // θ is stored with shape [1] (numpy stores 0-d arrays as 1-d).
      ({ image, text, logit_scale }) =>
        contrastiveLoss(image as tf.Tensor2D, text as tf.Tensor2D, logit_scale.reshape([])).reshape([1]),
      { inputs: ["image", "text", "logit_scale"], atol: 1e-4 },
    );
  });
}

test("binaryCrossEntropyWithLogits: torch's values, gradient σ(x) − t even at x = 0, finite at ±100", () => {
  const x = tf.variable(tf.tensor1d([0, 0, 100, -100, 100, -100, 2]));
  const t = tf.tensor1d([1, 0, 1, 1, 0, 0, 0.3]);
  const { value, grads } = tf.variableGrads(() => binaryCrossEntropyWithLogits(x, t).sum() as tf.Scalar, [x]);
  const expected = [Math.LN2, Math.LN2, 0, 100, 100, 0, 2 - 0.6 + Math.log1p(Math.exp(-2))];
  assert.ok(Math.abs(value.dataSync()[0] - expected.reduce((a, b) => a + b)) < 1e-4);
  const sigmoid = (v: number) => 1 / (1 + Math.exp(-v));
  const expectedGrad = [-0.5, 0.5, 0, -1, 1, 0, sigmoid(2) - 0.3];
  for (const [i, g] of grads[x.name].dataSync().entries())
    assert.ok(Math.abs(g - expectedGrad[i]) < 1e-6, `gradient ${i}: ${g} ≠ ${expectedGrad[i]}`);
  tf.dispose([x, t, value, grads[x.name]]);
});

test("upsampleMaskLogits resizes [N, h, w] bilinearly to the target size", () => {
  const logits = tf.tensor3d([0, 1, 2, 3], [1, 2, 2]);
  const up = upsampleMaskLogits(logits, [4, 4]);
  assert.deepEqual(up.shape, [1, 4, 4]);
  // align_corners=False: output row 1 samples source 0.25 → 0·0.75 + 2·0.25 in column 0.
  assert.ok(Math.abs(up.dataSync()[4] - 0.5) < 1e-6);
  tf.dispose([logits, up]);
});

test("the losses name bad shapes and normalisers", () => {
  const a = tf.zeros([2, 5]) as tf.Tensor2D;
  const b = tf.zeros([2, 4]) as tf.Tensor2D;
  assert.throws(() => sigmoidFocalLoss(a, b, 1), /same shape \[N, pixels\], got \[2,5\] and \[2,4\]/);
  assert.throws(() => diceLoss(a, a, 0), /numMasks must be positive, got 0/);
  assert.throws(() => upsampleMaskLogits(a as unknown as tf.Tensor3D, [4, 4]), /expected \[N, h, w\]/);
  const scale = tf.scalar(1);
  assert.throws(() => contrastiveLoss(a, b, scale), /same shape \[B ≥ 1, D\], got \[2,5\] and \[2,4\]/);
  assert.throws(
    () => contrastiveLoss(a, a, tf.ones([1]) as tf.Scalar),
    /logitScale must be a scalar, got shape \[1\]/,
  );
  tf.dispose([a, b, scale]);
});

test("contrastiveLoss with positives: −log of the positives' softmax mass, both ways; the identity gives the plain loss", () => {
  const image = tf.tensor2d([
    [1, 0],
    [0.6, 0.8],
    [0, 1],
  ]);
  const text = tf.tensor2d([
    [0.8, 0.6],
    [1, 0],
    [-0.6, 0.8],
  ]);
  const theta = tf.scalar(Math.log(2));
  const plain = contrastiveLoss(image, text, theta).dataSync()[0];
  const identity = contrastiveLoss(image, text, theta, tf.eye(3) as tf.Tensor2D).dataSync()[0];
  assert.ok(Math.abs(plain - identity) < 1e-6, `${plain} vs ${identity}`);
  const positives = [
    [1, 1, 0],
    [1, 1, 0],
    [0, 0, 1],
  ];
  const [z, u] = [image.arraySync(), text.arraySync()];
  const side = (a: number[][], b: number[][]) =>
    a.reduce((sum, row, i) => {
      const logits = b.map((col) => 2 * (row[0] * col[0] + row[1] * col[1]));
      const total = logits.reduce((t, l) => t + Math.exp(l), 0);
      const mass = logits.reduce((t, l, j) => t + (positives[i][j] ? Math.exp(l) : 0), 0);
      return sum - Math.log(mass / total);
    }, 0) / 3;
  const expected = 0.5 * (side(z, u) + side(u, z));
  const multi = contrastiveLoss(image, text, theta, tf.tensor2d(positives)).dataSync()[0];
  assert.ok(Math.abs(multi - expected) < 1e-5, `${multi} vs ${expected}`);
  tf.dispose([image, text, theta]);
});

test("regionNounProbabilities + nounLoss: per-region softmax over nouns + no-object, presence = max over regions, BCE summed over nouns", () => {
  // 2 images × 3 regions, 2 nouns + no-object, embeddings in 2-d (unnormalised on purpose: the loss takes them as given)
  const regions = [
    [
      [1, 0],
      [0, 1],
      [0.6, 0.8],
    ],
    [
      [0, 1],
      [-1, 0],
      [0.8, -0.6],
    ],
  ];
  const candidates = [
    [1, 0],
    [0, 1],
    [-0.6, -0.8],
  ];
  const targets = [
    [1, 0],
    [1, 1],
  ];
  const scale = 3;
  let expected = 0;
  regions.forEach((image, b) => {
    const probabilities = image.map((r) => {
      const logits = candidates.map((c) => scale * (r[0] * c[0] + r[1] * c[1]));
      const z = logits.reduce((sum, l) => sum + Math.exp(l), 0);
      return logits.map((l) => Math.exp(l) / z);
    });
    for (let n = 0; n < 2; n++) {
      const p = Math.max(...probabilities.map((row) => row[n]));
      expected -= targets[b][n] * Math.log(p) + (1 - targets[b][n]) * Math.log(1 - p);
    }
  });
  expected /= 2;
  const probabilities = regionNounProbabilities(
    tf.tensor3d(regions),
    tf.tensor2d(candidates),
    tf.scalar(scale),
  );
  const loss = nounLoss(probabilities, tf.tensor2d(targets));
  assert.ok(Math.abs(loss.dataSync()[0] - expected) < 1e-5, `${loss.dataSync()[0]} vs ${expected}`);
  // every image holds background: + w · mean over images of −log(max over regions of P[no-object])
  const background =
    regions
      .map((image) => {
        const p = image.map((r) => {
          const logits = candidates.map((c) => scale * (r[0] * c[0] + r[1] * c[1]));
          return Math.exp(logits[2]) / logits.reduce((sum, l) => sum + Math.exp(l), 0);
        });
        return -Math.log(Math.max(...p));
      })
      .reduce((a, b) => a + b) / 2;
  const withBackground = nounLoss(probabilities, tf.tensor2d(targets), 0.5).dataSync()[0];
  assert.ok(Math.abs(withBackground - (expected + 0.5 * background)) < 1e-5, `${withBackground}`);
  assert.throws(() => nounLoss(probabilities, tf.tensor2d([[1, 0, 1]])), /do not fit/);
  assert.throws(
    () => regionNounProbabilities(tf.tensor3d(regions), tf.tensor2d([[1, 0, 0]]), tf.scalar(1)),
    /do not fit/,
  );
});

test("unclaimedRegionLoss: each named noun claims its most probable matched region; the other matched regions go to no-object", () => {
  // 2 images × 4 regions over 2 nouns + no-object (rows sum to 1)
  const p = [
    [
      [0.1, 0.2, 0.7],
      [0.6, 0.1, 0.3], // image 0: noun 0 is named; of the matched regions 0, 1, 3 region 1 claims it
      [0.9, 0.05, 0.05], // not matched: no term, whatever it says
      [0.3, 0.3, 0.4],
    ],
    [
      [0.2, 0.5, 0.3], // image 1: both nouns named; region 0 claims noun 1, region 2 noun 0; region 3 is left
      [0.1, 0.1, 0.8],
      [0.5, 0.4, 0.1],
      [0.25, 0.25, 0.5],
    ],
  ];
  const probabilities = tf.tensor3d(p);
  const targets = tf.tensor2d([
    [1, 0],
    [1, 1],
  ]);
  const matched = [Int32Array.of(0, 1, 3), Int32Array.of(0, 2, 3)];
  const loss = unclaimedRegionLoss(probabilities, targets, matched);
  const expected = -(Math.log(0.7) + Math.log(0.4) + Math.log(0.5)) / 3;
  assert.ok(Math.abs(loss.dataSync()[0] - expected) < 1e-6, `${loss.dataSync()[0]} vs ${expected}`);
  const grad = tf.grad((x) => unclaimedRegionLoss(x as tf.Tensor3D, targets, matched))(probabilities);
  const pushed = Array.from(grad.dataSync())
    .map((g, i) => (g === 0 ? -1 : i))
    .filter((i) => i >= 0);
  // only the no-object probabilities of the unclaimed matched regions (0,0), (0,3) and (1,3)
  assert.deepEqual(pushed, [2, 11, 23]);
  const none = unclaimedRegionLoss(probabilities, targets, [Int32Array.of(1), Int32Array.of(0, 2)]);
  assert.equal(none.dataSync()[0], 0, "every matched region claimed: no term");
  assert.throws(() => unclaimedRegionLoss(probabilities, targets, [Int32Array.of(0)]), /do not fit/);
  tf.dispose([probabilities, targets, loss, grad, none]);
});
