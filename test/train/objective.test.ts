import assert from "node:assert/strict";
import { before, test } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { initEngine } from "../../src/engine/backend.js";
import { namingStats, sameNounPairs } from "../../src/train/objective.js";

before(() => initEngine());

test("namingStats: no-object mass, presence of named vs other nouns, noun spread, image-level top-1, false negatives", () => {
  // 2 images × 2 regions over 2 nouns + no-object
  const probabilities = tf.tensor3d([
    [
      [0.7, 0.1, 0.2],
      [0.2, 0.2, 0.6],
    ],
    [
      [0.5, 0.4, 0.1],
      [0.1, 0.1, 0.8],
    ],
  ]);
  const nouns = tf.tensor2d([
    [1, 0],
    [0.6, 0.8],
  ]);
  const targets = tf.tensor2d([
    [1, 0],
    [0, 1],
  ]);
  const stats = namingStats(probabilities, nouns, targets);
  const close = (a: number, b: number, what: string) =>
    assert.ok(Math.abs(a - b) < 1e-6, `${what}: ${a} vs ${b}`);
  close(stats.noObject, (0.2 + 0.6 + 0.1 + 0.8) / 4, "noObject");
  // presence: image 0 [0.7, 0.2], image 1 [0.5, 0.4]; named: 0.7 and 0.4, others: 0.2 and 0.5
  close(stats.named, 0.55, "named");
  close(stats.other, 0.35, "other");
  close(stats.nounCosine, 0.6, "nounCosine");
  close(stats.top1, 0.5, "top1"); // image 0's top noun is named, image 1's (0.5 on noun 0) is not
  close(stats.falseNegatives, 0, "falseNegatives");
  const twins = namingStats(
    probabilities,
    nouns,
    tf.tensor2d([
      [1, 1],
      [1, 1],
    ]),
  );
  close(twins.falseNegatives, 1, "both captions name the same nouns");
  tf.dispose([probabilities, nouns, targets]);
});

test("sameNounPairs: the diagonal and pairs whose captions name the same non-empty noun set", () => {
  const pairs = sameNounPairs(
    tf.tensor2d([
      [1, 0],
      [1, 0],
      [0, 0],
      [0, 0],
      [1, 1],
    ]),
  );
  assert.deepEqual(pairs.arraySync(), [
    [1, 1, 0, 0, 0],
    [1, 1, 0, 0, 0],
    [0, 0, 1, 0, 0],
    [0, 0, 0, 1, 0],
    [0, 0, 0, 0, 1],
  ]);
  pairs.dispose();
});
