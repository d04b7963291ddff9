import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFile, mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { loadSegmenter } from "../../src/infer/load.js";
import { IGNORE_LABEL, pseudoLabels } from "../../src/infer/pseudo-labels.js";
import { readImage } from "../../src/io/image.js";
import { readLabelPng } from "../../src/io/label-png.js";
import { tempDir } from "../support/temp.js";

const MAIN = new URL("../../src/cli/main.js", import.meta.url).pathname;
const FIXTURES = new URL("../../../test/fixtures/images/", import.meta.url).pathname;
const SAMPLES = new URL("../../../samples/", import.meta.url).pathname;

function sseg(...args: string[]) {
  return spawnSync(process.execPath, [MAIN, ...args], { encoding: "utf8" });
}

test("pseudo-labels: hard S-Seg labels; below the minimum confidence a pixel is ignored (255), background kept under a threshold", async () => {
  const segmenter = await loadSegmenter();
  try {
    const image = await readImage(join(SAMPLES, "composite_00027.jpg"));
    const classes = ["rabbit", "cow", "tree"];
    const plain = pseudoLabels(segmenter, image, classes);
    assert.equal(plain.labels.length, image.width * image.height);
    assert.equal(plain.counts[IGNORE_LABEL], 0, "no minimum: nothing ignored");
    assert.ok(plain.labels.every((l) => l <= classes.length));
    assert.ok(plain.counts[1] > 0, "the rabbits are labelled");
    const strict = pseudoLabels(segmenter, image, classes, { minConfidence: 1 });
    assert.equal(
      strict.counts[IGNORE_LABEL],
      strict.labels.length,
      "learned background: every pixel has a score < 1",
    );
    const thresholded = pseudoLabels(segmenter, image, classes, {
      minConfidence: 1,
      background: { threshold: 0.5 },
    });
    assert.ok(
      thresholded.counts[0] > 0,
      "threshold rule: background pixels have no score of their own and stay",
    );
    assert.equal(thresholded.counts[0] + thresholded.counts[IGNORE_LABEL], thresholded.labels.length);
  } finally {
    segmenter.dispose();
  }
});

test("sseg selftrain label writes a VOC-layout folder, skips bad images, and resumes where it stopped", async (t) => {
  const dir = await tempDir(t, "sseg-selftrain-");
  const inputs = join(dir, "in");
  await mkdir(inputs);
  await copyFile(join(SAMPLES, "composite_00027.jpg"), join(inputs, "a.jpg"));
  await copyFile(join(FIXTURES, "truncated.jpg"), join(inputs, "b.jpg"));
  await copyFile(join(FIXTURES, "rgba.png"), join(inputs, "c.png"));
  await writeFile(join(inputs, "d.png"), "not an image\n");
  const out = join(dir, "labels");
  const args = ["selftrain", "label", "--images", inputs, "--classes", "rabbit,cow,tree", "--out", out];
  const first = sseg(...args, "--min-confidence", "0.2");
  assert.equal(first.status, 1, first.stderr);
  assert.match(first.stderr, /2 of 4 image\(s\) failed/);
  assert.match(first.stdout, /labelled 2 image\(s\) \(0 already there\)/);
  assert.equal(await readFile(join(out, "classes.txt"), "utf8"), "background\nrabbit\ncow\ntree\n");
  assert.equal(await readFile(join(out, "ImageSets", "Segmentation", "train.txt"), "utf8"), "a\nc\n");
  assert.deepEqual((await readdir(join(out, "JPEGImages"))).sort(), ["a.jpg", "c.jpg"]);
  const labels = await readLabelPng(join(out, "SegmentationClass", "a.png"));
  assert.ok(labels.labels.every((l) => l <= 3 || l === IGNORE_LABEL));
  assert.ok(labels.labels.includes(1), "the rabbits");
  const summary = JSON.parse(await readFile(join(out, "labels.json"), "utf8"));
  assert.equal(summary.images, 2);
  const again = sseg(...args, "--min-confidence", "0.2");
  assert.match(again.stdout, /labelled 0 image\(s\) \(2 already there\)/);
  assert.deepEqual(JSON.parse(await readFile(join(out, "labels.json"), "utf8")).pixels, summary.pixels);
  const bad = sseg(...args, "--min-confidence", "2");
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--min-confidence: expected a number from 0 to 1, got "2"/);
});
