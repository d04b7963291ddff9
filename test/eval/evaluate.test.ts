import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cp, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { before, test } from "node:test";
import { initEngine } from "../../src/engine/backend.js";
import { evaluate, pixelSplit } from "../../src/eval/evaluate.js";
import { loadSegmenter } from "../../src/infer/load.js";
import { readLabelPng, writeLabelPng } from "../../src/io/label-png.js";
import { micro } from "../../src/model/presets.js";
import { saveMicroRun } from "../support/configs.js";
import { tempDir } from "../support/temp.js";

const SAMPLE = new URL("../../../data/composites-sample/val", import.meta.url).pathname;
const MAIN = new URL("../../src/cli/main.js", import.meta.url).pathname;

before(() => initEngine());

test("evaluate scores with and without background through the segmenter's own predictions", async (t) => {
  const out = await tempDir(t, "sseg-eval-");
  const seg = await loadSegmenter({ untrained: micro, seed: 1 });
  try {
    const result = await evaluate(seg, SAMPLE, { limit: 3, thresholds: [0, 0.5, 1], savePredictions: out });
    assert.equal(result.images, 3);
    assert.deepEqual(result.failed, []);
    assert.ok(result.withBackground);
    for (const value of [
      result.withBackground.miou,
      result.withoutBackground.miou,
      result.withBackground.aAcc,
    ])
      assert.ok(value >= 0 && value <= 1);
    assert.ok("background" in result.withBackground.iou && "bird" in result.withBackground.iou);
    assert.ok(!("background" in result.withoutBackground.iou));
    assert.equal(result.thresholdCurve?.length, 3);
    for (const value of Object.values(result.maskOracle)) assert.ok(value >= 0 && value <= 1);

    // naming diagnostics: every scored pixel counted once on each side, the saved labels' counts as predicted
    const naming = result.naming;
    assert.ok(naming && naming.imageTop1 >= 0 && naming.imageTop1 <= 1);
    assert.ok(naming.queryCosine >= -1 && naming.queryCosine <= 1);
    const counted = (key: "predicted" | "labelled") =>
      Object.values(naming.pixels).reduce((sum, p) => sum + p[key], 0);
    const images = await Promise.all(
      ["composite_00000", "composite_00001", "composite_00002"].map((id) =>
        readLabelPng(join(out, `${id}.png`)),
      ),
    );
    const predictedBackground = images.reduce((sum, l) => sum + l.labels.filter((v) => v === 0).length, 0);
    assert.equal(naming.pixels.background.predicted, predictedBackground);
    assert.equal(
      counted("predicted"),
      images.reduce((sum, l) => sum + l.labels.length, 0),
    );
    assert.ok(counted("labelled") <= counted("predicted"), "ignored pixels are not labelled");
    // what each class's pixels were called adds up to its labelled pixels
    for (const [name, { labelled }] of Object.entries(naming.pixels))
      assert.equal(
        Object.values(naming.calledAs[name]).reduce((sum, n) => sum + n, 0),
        labelled,
        name,
      );
    assert.ok(Object.values(naming.calledAs).some((given) => Object.keys(given).length > 0));
    const { named, background, otherClass } = naming.pixelSplit;
    assert.ok(Math.abs(named + background + otherClass - 1) < 1e-12);

    // the saved prediction is exactly what segment() gives for the same image
    const saved = await readLabelPng(join(out, "composite_00001.png"));
    const direct = await seg.segment(join(SAMPLE, "JPEGImages", "composite_00001.jpg"), [
      ...(await readFile(join(SAMPLE, "classes.txt"), "utf8")).trim().split("\n").slice(1),
    ]);
    assert.deepEqual([...saved.labels], [...direct.labelMap]);

    // threshold 0 keeps every pixel a class: the same as no background rule
    const forced = await evaluate(seg, SAMPLE, { limit: 3, segment: { background: false } });
    assert.equal(forced.withBackground?.miou, result.thresholdCurve?.[0].miou);
  } finally {
    seg.dispose();
  }
});

test("pixelSplit: object pixels named right, called background or another class; background's false alarms", () => {
  // rows: labelled background, a, b; columns: predicted background, a, b
  const confusion = Float64Array.from([90, 6, 4, 10, 20, 10, 5, 5, 50]);
  const split = pixelSplit(confusion, 3);
  assert.deepEqual(split, { named: 0.7, background: 0.15, otherClass: 0.15, backgroundCalledObject: 0.1 });
});

test("an image whose label has another size is reported and skipped; the others are scored", async (t) => {
  const root = await tempDir(t, "sseg-eval-bad-");
  await cp(SAMPLE, root, { recursive: true });
  await writeFile(join(root, "ImageSets", "Segmentation", "val.txt"), "composite_00000\ncomposite_00001\n");
  await writeLabelPng(join(root, "SegmentationClass", "composite_00000.png"), new Uint8Array(12), 4, 3);
  const seg = await loadSegmenter({ untrained: micro });
  try {
    const result = await evaluate(seg, root);
    assert.equal(result.images, 1);
    assert.equal(result.failed.length, 1);
    assert.equal(result.failed[0].id, "composite_00000");
    assert.match(result.failed[0].reason, /composite_00000\.png: label is 4×3 but its image is 256×256/);
  } finally {
    seg.dispose();
  }
});

test("sseg eval --tune-background prints the curve, writes JSON + markdown and stores the threshold", async (t) => {
  const dir = await tempDir(t, "sseg-eval-cli-");
  await saveMicroRun(dir, 5);
  const r = spawnSync(
    process.execPath,
    [
      MAIN,
      "eval",
      SAMPLE,
      "--checkpoint",
      join(dir, "run"),
      "--limit",
      "2",
      "--tune-background",
      "--out",
      join(dir, "r.json"),
    ],
    { encoding: "utf8" },
  );
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /\| threshold \| mIoU with background \|/);
  assert.match(r.stdout, /\| bird \| /);
  const match = /background threshold ([\d.]+) \(mIoU [\d.]+\) stored in (.*state\.json); it held \S/.exec(
    r.stdout,
  );
  assert.ok(match, r.stdout);
  const json = JSON.parse(await readFile(join(dir, "r.json"), "utf8"));
  assert.equal(json.images, 2);
  assert.match(await readFile(join(dir, "r.md"), "utf8"), /mIoU with background/);
  const seg = await loadSegmenter(join(dir, "run"));
  assert.deepEqual(
    seg.defaults.background,
    { threshold: Number(match[1]) },
    "segment() now uses it by default",
  );
  seg.dispose();

  const bad = spawnSync(process.execPath, [MAIN, "eval", SAMPLE, "--untrained", "micro", "--limit", "x"], {
    encoding: "utf8",
  });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--limit: expected a positive integer, got "x"/);
});

test("sseg eval --compare scores several models on the same images, side by side", async (t) => {
  const dir = await tempDir(t, "sseg-eval-compare-");
  await saveMicroRun(dir, 5, 0);
  await saveMicroRun(join(dir, "other"), 7, 1);
  const run = join(dir, "run");
  const other = join(dir, "other", "run");
  const args = [MAIN, "eval", SAMPLE, "-m", run, "--limit", "2", "--threshold", "0.3"];
  const r = spawnSync(
    process.execPath,
    [...args, "--compare", run, "--compare", other, "--out", join(dir, "c.json")],
    {
      encoding: "utf8",
    },
  );
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /## 3 models on .* \(val, 2 images\)/);
  const rows = r.stdout.split("\n").filter((line) => line.startsWith("| ") && line.includes("step "));
  assert.equal(rows.length, 3, r.stdout);
  assert.match(rows[1], /\| \+0\.0 \|.*\| \+0\.0 \|/, "the same model twice scores the same");
  assert.match(rows[2], /step 7/);
  const json = JSON.parse(await readFile(join(dir, "c.json"), "utf8"));
  assert.deepEqual(
    json.models.map((m: { images: number }) => m.images),
    [2, 2, 2],
  );
  assert.equal(json.models[0].withBackground.miou, json.models[1].withBackground.miou);
  assert.match(await readFile(join(dir, "c.md"), "utf8"), /## 3 models on/);

  const tuneBoth = spawnSync(process.execPath, [...args, "--tune-background", "--compare", other], {
    encoding: "utf8",
  });
  assert.equal(tuneBoth.status, 2);
  assert.match(tuneBoth.stderr, /--tune-background tunes one model/);
  const missing = spawnSync(process.execPath, [...args, "--compare", join(dir, "nowhere")], {
    encoding: "utf8",
  });
  assert.equal(missing.status, 1);
  assert.match(missing.stderr, /nowhere/);
  assert.doesNotMatch(missing.stdout, /mIoU with background/, "refused before the first model is scored");
});

test("evaluate --rename: the prompts call a class by another word; labels and result names stay", async () => {
  const seg = await loadSegmenter({ untrained: micro, seed: 1 });
  const prompted: string[][] = [];
  const predict = seg.predict.bind(seg);
  seg.predict = (image, names, options) => {
    prompted.push([...names]);
    return predict(image, names, options);
  };
  try {
    const result = await evaluate(seg, SAMPLE, { limit: 1, rename: { bird: "animal", car: "vehicle" } });
    assert.equal(prompted[0][0], "animal");
    assert.ok(
      prompted[0].includes("vehicle") && !prompted[0].includes("car") && prompted[0].includes("fish"),
    );
    assert.ok("bird" in result.withoutBackground.iou && !("animal" in result.withoutBackground.iou));
    await assert.rejects(
      evaluate(seg, SAMPLE, { limit: 1, rename: { zebra: "animal" } }),
      /rename: zebra is not a class/,
    );
  } finally {
    seg.dispose();
  }
  const bad = spawnSync(
    process.execPath,
    [MAIN, "eval", SAMPLE, "--untrained", "micro", "--rename", "bird"],
    {
      encoding: "utf8",
    },
  );
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /--rename: expected class=word pairs separated by commas, got "bird"/);
});
