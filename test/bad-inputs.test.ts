/**
 * Every multi-input command on the bad-input corpus (test/fixtures/bad-inputs/, written by tools/bad-inputs.mjs):
 * each good item gets its result, each bad one is named with its reason in a summary, the exit code is 1, and a
 * bad flag is a one-line usage error (exit 2). Issue #23.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import { test } from "node:test";
import { tempDir } from "./support/temp.js";

const MAIN = new URL("../src/cli/main.js", import.meta.url).pathname;
const CORPUS = new URL("../../test/fixtures/bad-inputs/", import.meta.url).pathname;

function sseg(...args: string[]) {
  return spawnSync(process.execPath, [MAIN, ...args], { cwd: CORPUS, encoding: "utf8" });
}

/** The failure summary's lines (`  <file>: <reason>`), each on one line, without the progress bar's. */
function failureLines(stderr: string): string[] {
  return stderr.split("\n").filter((line) => /^ {2}\S/.test(line));
}

const BAD_IMAGES: [string, RegExp][] = [
  ["images/b_truncated.jpg", /not a supported image \(.*premature end of JPEG image\)$/],
  ["images/d_text.png", /not a supported image \(Input buffer contains unsupported image format\)$/],
  ["images/e_empty.jpg", /file is empty \(0 bytes\)$/],
  ["images/f_huge.png", /9000×9000 = 81000000 pixels, over the limit of 67108864 pixels/],
];

function assertImageFailures(stderr: string, command: string, total: number): void {
  assert.match(stderr, new RegExp(`sseg ${command}: 4 of ${total} image\\(s\\) failed:`));
  const lines = failureLines(stderr);
  for (const [file, reason] of BAD_IMAGES) {
    const line = lines.find((l) => l.startsWith(`  ${file}: `));
    assert.ok(line, `${file} is named: ${stderr}`);
    assert.match(line, reason);
    assert.ok(!line.slice(file.length + 4).includes(file), "the file is named once");
  }
  assert.doesNotMatch(stderr, /\n\s+at /, "no stack trace");
}

test("segment: the good images (two sharing a base name) are written, each bad one named, exit 1", async (t) => {
  const out = await tempDir(t, "sseg-bad-segment-");
  const r = sseg("segment", "images", "images/sub/a.jpg", "--classes", "cow,tree", "--out", out);
  assert.equal(r.status, 1, r.stderr);
  assertImageFailures(r.stderr, "segment", 7);
  const written = await readdir(out);
  for (const stem of ["a", "a-2", "c"]) assert.ok(written.includes(`${stem}.png`), `${stem}.png`);
  const summary = JSON.parse(await readFile(join(out, "summary.json"), "utf8"));
  assert.equal(summary.results.length, 3);
  assert.equal(summary.failures.length, 4);
});

test("pseudo and selftrain label: the same images, the same per-file summary", async (t) => {
  const out = await tempDir(t, "sseg-bad-pseudo-");
  const pseudo = sseg("pseudo", "images", "--features", "rgb", "--out", join(out, "pseudo"));
  assert.equal(pseudo.status, 1, pseudo.stderr);
  assertImageFailures(pseudo.stderr, "pseudo", 6);
  const label = sseg(
    "selftrain",
    "label",
    "--images",
    "images",
    "--classes",
    "cow,tree",
    "--out",
    join(out, "labels"),
  );
  assert.equal(label.status, 1, label.stderr);
  assertImageFailures(label.stderr, "selftrain label", 6);
  assert.equal(
    await readFile(join(out, "labels", "ImageSets", "Segmentation", "train.txt"), "utf8"),
    "a\nc\n",
  );
});

test("data stats: a caption index and a shard skip and count each bad sample by reason", () => {
  const index = sseg("data", "stats", "pairs");
  assert.equal(index.status, 0, index.stderr);
  assert.match(index.stdout, /samples: 1\n/);
  assert.match(index.stdout, /5 samples skipped: 2 × image path outside the dataset folder/);
  assert.match(index.stdout, /1 × malformed index line \(e\.g\. line 2 in pairs\/captions\.jsonl\)/);
  const shard = sseg("data", "stats", "shards/00000.tar");
  assert.equal(shard.status, 0, shard.stderr);
  assert.match(shard.stdout, /3 samples skipped: 2 × undecodable image .*1 × no caption member/);
  const strict = sseg("data", "stats", "pairs", "--strict");
  assert.equal(strict.status, 1);
  assert.match(strict.stderr, /line 2/);
});

test("eval: a label of another size and a missing label are reported, the rest scored, exit 1", async (t) => {
  const out = await tempDir(t, "sseg-bad-eval-");
  const r = sseg("eval", "voc", "--out", join(out, "eval.json"));
  assert.equal(r.status, 1, r.stderr);
  const result = JSON.parse(await readFile(join(out, "eval.json"), "utf8"));
  assert.equal(result.images, 1);
  assert.deepEqual(
    result.failed.map((f: { id: string; reason: string }) => [f.id, f.reason]),
    [
      ["v2", "voc/SegmentationClass/v2.png: label is 32×32 but its image is 64×48"],
      ["v3", "voc/SegmentationClass/v3.png: file not found"],
    ],
  );
});

test("a model with someone else's keys, a huge brace range and a bad flag are each one line", () => {
  const foreign = sseg("segment", "images/a.jpg", "--classes", "cow", "-m", "models/foreign.safetensors");
  assert.equal(foreign.status, 1);
  const message = foreign.stderr.trim();
  assert.equal(message.split("\n").length, 1, message);
  assert.match(
    message,
    /^sseg: models\/foreign\.safetensors: does not fit the configuration "tiny" in models\/foreign\.json/,
  );
  assert.match(message, /431 missing, 1 unexpected.* and 426 more$/);
  const braces = sseg("data", "stats", "shards/{0..9999999}.tar");
  assert.equal(braces.status, 1);
  assert.match(braces.stderr, /stands for 10,000,000 names, more than 1,000,000/);
  const flag = sseg("eval", "voc", "--limit", "abc");
  assert.equal(flag.status, 2);
  assert.equal(flag.stderr.trim(), 'sseg: --limit: expected a positive integer, got "abc"');
});
