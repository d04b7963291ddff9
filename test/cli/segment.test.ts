import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFile, mkdir, readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { parseList, uniqueStems } from "../../src/cli/inputs.js";
import { readLabelPng } from "../../src/io/label-png.js";

import { tempDir } from "../support/temp.js";

const MAIN = new URL("../../src/cli/main.js", import.meta.url).pathname;
const FIXTURES = new URL("../../../test/fixtures/images/", import.meta.url).pathname;

function sseg(...args: string[]) {
  return spawnSync(process.execPath, [MAIN, ...args], { encoding: "utf8" });
}

test("class lists come as a comma list or @file; empty ones are refused", async (t) => {
  assert.deepEqual(await parseList(" cat, dog ,,grass ", "--classes"), ["cat", "dog", "grass"]);
  const dir = await tempDir(t, "sseg-list-");
  await writeFile(join(dir, "classes.txt"), "sky\r\n\nwater\n");
  assert.deepEqual(await parseList(`@${join(dir, "classes.txt")}`, "--classes"), ["sky", "water"]);
  await assert.rejects(parseList(" , ", "--classes"), /--classes: nothing in " , "/);
  await assert.rejects(
    parseList("@/nonexistent/c.txt", "--classes"),
    /--classes: cannot read \/nonexistent\/c\.txt \(ENOENT\)/,
  );
});

test("output names stay unique when inputs share a base name", () => {
  assert.deepEqual(uniqueStems(["a/x.jpg", "b/x.png", "c/y.jpg", "d/x.jpg"]), ["x", "x-2", "y", "x-3"]);
});

test("sseg segment writes a label PNG, an overlay and JSON per image, and survives bad images", async (t) => {
  const dir = await tempDir(t, "sseg-segment-");
  const inputs = join(dir, "in");
  await mkdir(inputs);
  await copyFile(join(FIXTURES, "rgba.png"), join(inputs, "a_good.png"));
  await copyFile(join(FIXTURES, "truncated.jpg"), join(inputs, "b_truncated.jpg"));
  await copyFile(join(FIXTURES, "exif_orientation6.jpg"), join(inputs, "c_good.jpg"));
  await writeFile(join(inputs, "d_text.png"), "not an image at all\n");
  const out = join(dir, "out");
  const r = sseg("segment", inputs, "--classes", "cat,dog,grass", "--out", out, "--no-background");
  assert.equal(r.status, 1, "exit 1 when any image failed");
  assert.match(r.stderr, /2 of 4 image\(s\) failed/);
  assert.match(r.stderr, /b_truncated\.jpg: /);
  assert.match(r.stderr, /d_text\.png: /);
  assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
  const written = (await readdir(out)).sort();
  for (const stem of ["a_good", "c_good"])
    for (const suffix of [".png", ".overlay.png", ".json"])
      assert.ok(written.includes(stem + suffix), stem + suffix);
  assert.ok(!written.some((f) => f.startsWith("b_") || f.startsWith("d_")));
  const report = JSON.parse(await readFile(join(out, "c_good.json"), "utf8"));
  const labels = await readLabelPng(join(out, "c_good.png"));
  assert.deepEqual([labels.width, labels.height], [report.width, report.height]);
  assert.ok(
    labels.labels.every((l) => l >= 1 && l <= 3),
    "--no-background: every pixel is one of the 3 classes",
  );
  for (const region of report.regions) {
    const id = ["background", "cat", "dog", "grass"].indexOf(region.label);
    assert.equal(labels.labels.filter((l) => l === id).length, region.pixels, region.label);
  }
  const summary = JSON.parse(await readFile(join(out, "summary.json"), "utf8"));
  assert.equal(summary.results.length, 2);
  assert.equal(summary.failures.length, 2);
  assert.equal(summary.contactSheet, join(out, "contact-sheet.png"));
  assert.ok((await readFile(summary.contactSheet)).length > 1000, "the overlays on one contact sheet");
});

test("sseg segment --json prints the results on stdout", async (t) => {
  const out = await tempDir(t, "sseg-json-");
  const r = sseg(
    "segment",
    join(FIXTURES, "rgba.png"),
    "--classes",
    "cat",
    "--out",
    out,
    "--json",
    "--threshold",
    "0.2",
  );
  assert.equal(r.status, 0, r.stderr);
  const printed = JSON.parse(r.stdout);
  assert.deepEqual(printed.classes, ["cat"]);
  assert.equal(printed.results.length, 1);
});

test("bad arguments are one clear line: exit 2 for a bad flag (a usage error), 1 for a bad file or vocabulary", async (t) => {
  const dir = await tempDir(t, "sseg-badargs-");
  const image = join(FIXTURES, "rgba.png");
  const cases: [string[], RegExp, number][] = [
    [["segment", image, "--classes", "cat,dog,cat"], /class name "cat" is given twice/, 1],
    [["segment", image, "--classes", " , "], /--classes: nothing in/, 2],
    [
      ["segment", image, "--classes", "cat", "--threshold", "xyz"],
      /--threshold: expected a number from 0 to 1, got "xyz"/,
      2,
    ],
    [
      ["segment", image, "--classes", "cat", "--threshold", "0.3", "--no-background"],
      /at most one of --threshold/,
      2,
    ],
    [["segment", image, "--classes", "cat", "--mode", "tiles"], /--mode: expected whole or slide/, 2],
    [
      ["segment", image, "--classes", "cat", "--checkpoint", join(dir, "missing")],
      /missing: no such model file or folder/,
      1,
    ],
    [
      ["segment", "/nonexistent/x.jpg", "--classes", "cat"],
      /no such image file or folder: \/nonexistent\/x\.jpg/,
      1,
    ],
    [["segment", dir, "--classes", "cat"], /no images .* in this folder/, 1],
    [["segment", image, "--classes", "cat", "--untrained", "huge"], /unknown configuration "huge"/, 1],
  ];
  for (const [args, message, status] of cases) {
    const r = sseg(...args, "--out", join(dir, "out"));
    assert.equal(r.status, status, `${args.join(" ")}: ${r.stderr}`);
    assert.match(r.stderr, message);
    assert.doesNotMatch(r.stderr, /\n\s+at /, "no stack trace");
  }
});
