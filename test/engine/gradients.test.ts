import assert from "node:assert/strict";
import { test } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { variableGrads } from "../../src/engine/gradients.js";
import { Rng } from "../../src/engine/rng.js";
import { micro } from "../../src/model/presets.js";
import { SSegModel } from "../../src/model/sseg.js";
import { Dropout, DropPath } from "../../src/nn/dropout.js";
import { DEFAULT_MASK_LOSS_WEIGHTS, SetCriterion } from "../../src/train/criterion.js";
import { DEFAULT_MATCH_COSTS, HungarianMatcher } from "../../src/train/matcher.js";
import { sSegLoss } from "../../src/train/objective.js";
import { randomTensor } from "../support/parity.js";

function assertSameGradients(
  ours: { value: tf.Scalar; grads: tf.NamedTensorMap },
  theirs: { value: tf.Scalar; grads: tf.NamedTensorMap },
): void {
  assert.equal(ours.value.dataSync()[0], theirs.value.dataSync()[0]);
  assert.deepEqual(Object.keys(ours.grads).sort(), Object.keys(theirs.grads).sort());
  for (const [name, gradient] of Object.entries(theirs.grads))
    assert.deepEqual(ours.grads[name].dataSync(), gradient.dataSync(), `gradient of ${name}`);
}

/** A deep chain of layers sharing one weight, a skip connection and a value used twice: accumulation paths. */
function chain(x: tf.Tensor, w: tf.Variable, bias: tf.Variable, depth: number): tf.Scalar {
  let h = x;
  for (let i = 0; i < depth; i++) {
    const next = tf.tanh(tf.matMul(h, w).add(bias));
    h = i % 3 === 2 ? next.add(h) : next.mul(next).add(next);
  }
  return h.square().mean() as tf.Scalar;
}

test("variableGrads: value and gradients bit-identical to tf.variableGrads, shared weights and skips included", () => {
  const rng = new Rng(1);
  const x = randomTensor(rng, [8, 16]);
  const w = tf.variable(randomTensor(rng, [16, 16], { scale: 0.3 }), true, "gradients.chain.w");
  const bias = tf.variable(randomTensor(rng, [16]), true, "gradients.chain.b");
  const frozen = tf.variable(tf.ones([16]), false, "gradients.chain.frozen");
  const unused = tf.variable(tf.ones([3]), true, "gradients.chain.unused");
  const f = () => chain(x, w, bias, 12).add(frozen.sum()) as tf.Scalar;
  const before = tf.memory().numTensors;
  const ours = variableGrads(f, [w, bias, frozen, unused]);
  assert.equal(tf.memory().numTensors, before + 3, "the value and two gradients are all that is left");
  const theirs = tf.variableGrads(f, [w, bias, unused]);
  assertSameGradients(ours, theirs);
  assert.equal(ours.grads[unused.name], undefined);
  tf.dispose([ours.value, theirs.value, ...Object.values(ours.grads), ...Object.values(theirs.grads)]);
  tf.dispose([x, w, bias, frozen, unused]);
});

test("variableGrads: the backward pass frees as it goes — its peak stays at the forward pass's, tfjs's grows", async () => {
  const rng = new Rng(2);
  const x = randomTensor(rng, [64, 256]);
  const w = tf.variable(randomTensor(rng, [256, 256], { scale: 0.05 }), true, "gradients.peak.w");
  const bias = tf.variable(randomTensor(rng, [256]), true, "gradients.peak.b");
  const peak = async (grads: typeof variableGrads) => {
    let forwardEnd = 0;
    const start = tf.memory().numBytes;
    const profile = await tf.profile(() => {
      const { value, grads: g } = grads(() => {
        const loss = chain(x, w, bias, 30);
        forwardEnd = tf.memory().numBytes - start;
        return loss;
      }, [w, bias]);
      tf.dispose([value, ...Object.values(g)]);
    });
    return { forwardEnd, peak: profile.peakBytes - start };
  };
  const ours = await peak(variableGrads);
  const theirs = await peak((f, vars) => tf.variableGrads(f, [...vars]));
  assert.equal(ours.forwardEnd, theirs.forwardEnd);
  assert.ok(
    ours.peak <= ours.forwardEnd * 1.05,
    `peak ${ours.peak} B against ${ours.forwardEnd} B after forward`,
  );
  assert.ok(
    theirs.peak > ours.forwardEnd * 1.3,
    `tfjs's peak ${theirs.peak} B: the comparison measures nothing`,
  );
  tf.dispose([x, w, bias]);
});

test("variableGrads: an S-Seg training loss's gradients equal tf.variableGrads's to the bit", () => {
  const model = new SSegModel(micro, { seed: 3 });
  model.train();
  for (const m of model.modules()) if (m instanceof Dropout || m instanceof DropPath) m.training = false;
  const rng = new Rng(3);
  const batch = 2;
  const size = micro.imageSize;
  const maskSize = size / 4;
  const inputs = {
    images: randomTensor(rng, [batch, size, size, 3]) as tf.Tensor4D,
    tokens: tf.tensor2d(
      Int32Array.from({ length: batch * micro.text.contextLength }, (_, i) =>
        i % micro.text.contextLength < 5 ? 320 + (i % 97) : 0,
      ),
      [batch, micro.text.contextLength],
      "int32",
    ),
    targets: Array.from({ length: batch }, () =>
      tf.tidy(() => randomTensor(rng, [3, maskSize, maskSize]).greater(0).toFloat() as tf.Tensor3D),
    ),
  };
  const criterion = new SetCriterion(new HungarianMatcher(DEFAULT_MATCH_COSTS), DEFAULT_MASK_LOSS_WEIGHTS);
  const variables = model.namedParameters().map(([, v]) => v);
  const f = () => sSegLoss(model, criterion, inputs).total;
  // BatchNorm's running statistics move with each forward pass; both passes start from the same ones
  const state = new Map(model.stateDict());
  const saved = new Map(
    [...state].map(([k, t]) => [k, { shape: t.shape, data: t.dataSync<"float32">().slice() }]),
  );
  const ours = variableGrads(f, variables);
  model.loadStateDict(saved);
  const theirs = tf.variableGrads(f, variables);
  assertSameGradients(ours, theirs);
  tf.dispose([ours.value, theirs.value, ...Object.values(ours.grads), ...Object.values(theirs.grads)]);
  tf.dispose([inputs.images, inputs.tokens, ...inputs.targets]);
  model.dispose();
});

test("variableGrads: clear errors, and no tensors left behind when the function throws", () => {
  const v = tf.variable(tf.ones([2]), true, "gradients.errors.v");
  const frozen = tf.variable(tf.ones([1]), false, "gradients.errors.frozen");
  const before = tf.memory().numTensors;
  assert.throws(
    () =>
      variableGrads(() => {
        v.mul(2).exp();
        throw new Error("boom");
      }, [v]),
    /boom/,
  );
  assert.throws(() => variableGrads(() => v.mul(2) as unknown as tf.Scalar, [v]), /must return a scalar/);
  assert.throws(() => variableGrads(() => tf.scalar(1), [v]), /does not depend on any of the variables/);
  assert.throws(() => variableGrads(() => v.sum(), [frozen]), /none of the given/);
  assert.equal(tf.memory().numTensors, before);
  assert.throws(
    () => variableGrads(() => variableGrads(() => v.sum(), [v]).value, [v]),
    /inside another gradient computation/,
  );
  tf.dispose([v, frozen]);
});
