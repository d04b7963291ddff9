import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { IoUAccumulator } from "../../src/eval/miou.js";
import { fixturePath } from "../support/fixtures.js";

interface MiouCase {
  numClasses: number;
  reduceZeroLabel: boolean;
  images: { pred: number[]; label: number[] }[];
  iou: (number | null)[];
  accuracy: (number | null)[];
  miou: number;
  aAcc: number;
}

// Written by tools/oracles/miou_fixture.py from mmseg's metric code.
const cases = JSON.parse(readFileSync(fixturePath("eval/miou_cases.json"), "utf8")) as MiouCase[];

function close(a: number, b: number | null, what: string): void {
  if (b === null) assert.ok(Number.isNaN(a), `${what}: ${a} should be NaN`);
  else assert.ok(Math.abs(a - b) < 1e-12, `${what}: ${a} ≠ ${b}`);
}

for (const [i, c] of cases.entries()) {
  test(`IoUAccumulator matches mmseg's metrics (case ${i}: ${c.numClasses} classes, reduce_zero_label ${c.reduceZeroLabel})`, () => {
    const acc = new IoUAccumulator(c.numClasses, { reduceZeroLabel: c.reduceZeroLabel });
    for (const image of c.images) acc.add(image.pred, image.label);
    const m = acc.metrics();
    for (const [k, v] of c.iou.entries()) close(m.iou[k], v, `IoU of class ${k}`);
    for (const [k, v] of c.accuracy.entries()) close(m.accuracy[k], v, `accuracy of class ${k}`);
    close(m.miou, c.miou, "mIoU");
    close(m.aAcc, c.aAcc, "aAcc");
    // the confusion histogram holds the same areas: its diagonal, its rows (labels) and columns (predictions)
    const n = c.numClasses;
    for (let k = 0; k < n; k++) {
      const row = acc.confusion.subarray(k * n, (k + 1) * n).reduce((s, v) => s + v, 0);
      let column = 0;
      for (let l = 0; l < n; l++) column += acc.confusion[l * n + k];
      assert.equal(acc.confusion[k * n + k], acc.intersection[k], `diagonal of class ${k}`);
      assert.ok(row <= acc.labelled[k] && column <= acc.predicted[k], `row and column of class ${k}`);
    }
  });
}

test("the confusion histogram counts each scored pixel once, by label row and prediction column", () => {
  const acc = new IoUAccumulator(3);
  acc.add([0, 2, 2, 1, 7, 0], [0, 1, 2, 255, 1, 5]);
  // ignored label (255), a prediction outside the classes (7) and a label outside them (5) are not counted
  assert.deepEqual([...acc.confusion], [1, 0, 0, 0, 0, 1, 0, 0, 1]);
  assert.deepEqual(
    [...acc.labelled],
    [1, 2, 1],
    "a labelled pixel with an out-of-range prediction still counts",
  );
});

test("a perfect prediction scores 1; mismatched sizes and bad class counts are errors", () => {
  const acc = new IoUAccumulator(3);
  acc.add([0, 1, 2, 2], [0, 1, 2, 255]);
  assert.equal(acc.metrics().miou, 1);
  assert.throws(() => acc.add([0], [0, 1]), /prediction has 1 pixels but the label map has 2/);
  assert.throws(() => new IoUAccumulator(0), /numClasses must be a positive integer, got 0/);
});
