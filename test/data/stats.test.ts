import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdir, mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { pairStats, segmentationStats } from "../../src/data/stats.js";
import { writeImage } from "../../src/io/image.js";
import { writeLabelPng } from "../../src/io/label-png.js";

const solid = (width: number, height: number) => ({
  width,
  height,
  data: new Uint8Array(width * height * 3).fill(120),
});

test("pair statistics count samples, image sizes, caption lengths and skipped samples", async () => {
  const dir = await mkdtemp(join(tmpdir(), "sseg-stats-"));
  await writeImage(join(dir, "a.png"), solid(20, 10));
  await writeImage(join(dir, "b.png"), solid(8, 30));
  await writeFile(join(dir, "broken.png"), "not an image");
  const lines = [
    { image: "a.png", caption: "a red square" },
    { image: "b.png", caption: "a tall grey bar on a wall" },
    { image: "broken.png", caption: "never decoded" },
  ];
  await writeFile(join(dir, "captions.jsonl"), lines.map((l) => JSON.stringify(l)).join("\n"));
  const stats = await pairStats(dir);
  assert.equal(stats.samples, 2);
  assert.deepEqual(stats.captionWords, { "3": 1, "7": 1 });
  assert.deepEqual(
    [stats.sizes.minWidth, stats.sizes.maxWidth, stats.sizes.minHeight, stats.sizes.maxHeight],
    [8, 20, 10, 30],
  );
  assert.equal(stats.skipped, 1);
  assert.match(stats.skippedSummary, /1 sample skipped/);
});

test("segmentation statistics count images and pixels per class; sseg data stats prints them", async () => {
  const root = await mkdtemp(join(tmpdir(), "sseg-stats-voc-"));
  for (const d of ["JPEGImages", "SegmentationClass", "ImageSets/Segmentation"])
    await mkdir(join(root, d), { recursive: true });
  const labels = [Uint8Array.from([0, 0, 1, 255]), Uint8Array.from([2, 2, 2, 0])];
  for (const [i, l] of labels.entries()) {
    await writeImage(join(root, "JPEGImages", `${i}.jpg`), solid(2, 2), { format: "jpeg" });
    await writeLabelPng(join(root, "SegmentationClass", `${i}.png`), l, 2, 2);
  }
  await writeFile(join(root, "ImageSets/Segmentation/val.txt"), "0\n1\n");
  await writeFile(join(root, "classes.txt"), "background\ncat\ndog\n");
  const stats = await segmentationStats("folder", root);
  assert.equal(stats.images, 2);
  assert.deepEqual(
    stats.classes.map((c) => [c.name, c.images, c.pixels]),
    [
      ["background", 2, 3],
      ["cat", 1, 1],
      ["dog", 1, 3],
    ],
  );
  assert.equal(stats.ignoredPixels, 1);
  const main = new URL("../../src/cli/main.js", import.meta.url).pathname;
  const r = spawnSync(process.execPath, [main, "data", "stats", root, "--dataset", "folder"], {
    encoding: "utf8",
  });
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /\| dog \| 1 \| 3 \|/);
});

test("data stats of a 200,000-line captions.jsonl finishes (no spread of unbounded arrays)", async () => {
  const dir = await mkdtemp(join(tmpdir(), "sseg-stats-big-"));
  await writeImage(join(dir, "a.png"), solid(4, 4));
  const good = JSON.stringify({ image: "a.png", caption: "a grey square" });
  const blank = (i: number) => JSON.stringify({ image: `gone/${i}.png`, caption: " " });
  const lines = Array.from({ length: 200_000 }, (_, i) => (i % 20_000 === 0 ? good : blank(i)));
  await writeFile(join(dir, "captions.jsonl"), lines.join("\n"));
  const stats = await pairStats(dir);
  assert.equal(stats.samples, 10);
  assert.equal(stats.skipped, 199_990);
  assert.match(stats.skippedSummary, /^199990 samples skipped: 199990 × empty caption \(e\.g\. /);
});
