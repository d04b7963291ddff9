import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdir, mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { OracleScore, oracleLabelMap } from "../../src/eval/oracle.js";
import { writeImage } from "../../src/io/image.js";
import { writeLabelPng } from "../../src/io/label-png.js";

test("each mask takes the class it overlaps most; ignored pixels do not vote; without background skips class 0", () => {
  const masks = [0, 0, 0, 1, 1, 1];
  const gt = [2, 2, 0, 0, 0, 1];
  assert.deepEqual([...oracleLabelMap(masks, gt, 3)], [2, 2, 2, 0, 0, 0]);
  assert.deepEqual([...oracleLabelMap(masks, [255, 255, 1, 0, 0, 1], 3)], [1, 1, 1, 0, 0, 0]);
  assert.deepEqual([...oracleLabelMap(masks, gt, 3, { withoutBackground: true })], [2, 2, 2, 1, 1, 1]);
  assert.throws(() => oracleLabelMap([0], [0, 1], 3), /mask map has 1 pixels but the ground truth has 2/);
});

test("masks that follow the ground truth score 100 % with and without background", () => {
  const score = new OracleScore(3);
  score.add([0, 0, 1, 1, 2, 2], [0, 0, 1, 1, 2, 255]);
  const { withBackground, withoutBackground } = score.metrics();
  assert.equal(withBackground.miou, 1);
  assert.equal(withoutBackground.miou, 1);
});

test("sseg pseudo --oracle scores rgb masks on a VOC-layout set", async () => {
  const root = await mkdtemp(join(tmpdir(), "sseg-voc-"));
  for (const dir of ["JPEGImages", "SegmentationClass", "ImageSets/Segmentation"])
    await mkdir(join(root, dir), { recursive: true });
  const width = 64;
  const height = 48;
  const ids = ["a", "b"];
  for (const [n, id] of ids.entries()) {
    const data = new Uint8Array(width * height * 3);
    const labels = new Uint8Array(width * height);
    for (let y = 0; y < height; y++) {
      for (let x = 0; x < width; x++) {
        const object = x >= 16 + 8 * n && x < 40 + 8 * n && y >= 8 && y < 40;
        data.set(object ? [230, 40, 30] : [30, 90, 200], (y * width + x) * 3);
        labels[y * width + x] = object ? 1 + n : 0;
      }
    }
    await writeImage(join(root, "JPEGImages", `${id}.jpg`), { width, height, data }, { format: "jpeg" });
    await writeLabelPng(join(root, "SegmentationClass", `${id}.png`), labels, width, height);
  }
  await writeFile(join(root, "ImageSets/Segmentation/val.txt"), `${ids.join("\n")}\n`);
  await writeFile(join(root, "classes.txt"), "background\ncat\ndog\n");
  const out = join(root, "out");
  const main = new URL("../../src/cli/main.js", import.meta.url).pathname;
  const r = spawnSync(
    process.execPath,
    [main, "pseudo", "--oracle", root, "--features", "rgb", "--k", "2", "--size", "48", "--out", out],
    {
      encoding: "utf8",
    },
  );
  assert.equal(r.status, 0, r.stderr);
  const result = JSON.parse(await readFile(join(out, "oracle.json"), "utf8"));
  assert.equal(result.images, 2);
  assert.ok(result.miouWithBackground > 0.95, `oracle mIoU ${result.miouWithBackground}`);
  assert.match(r.stdout, /\| rgb \| 2 \| 2 \|/);
  const missing = spawnSync(process.execPath, [main, "pseudo", "--oracle", join(root, "nope")], {
    encoding: "utf8",
  });
  assert.match(missing.stderr, /no such data set folder/);
});
