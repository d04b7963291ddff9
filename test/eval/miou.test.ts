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
  });
}

test("a perfect prediction scores 1; mismatched sizes and bad class counts are errors", () => {
  const acc = new IoUAccumulator(3);
  acc.add([0, 1, 2, 2], [0, 1, 2, 255]);
  assert.equal(acc.metrics().miou, 1);
  assert.throws(() => acc.add([0], [0, 1]), /prediction has 1 pixels but the label map has 2/);
  assert.throws(() => new IoUAccumulator(0), /numClasses must be a positive integer, got 0/);
});
