import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { micro } from "../../src/model/presets.js";

const MAIN = new URL("../../src/cli/main.js", import.meta.url).pathname;
const SAMPLE_SHARDS = `${new URL("../../../data/composites-sample/train/", import.meta.url).pathname}{00000..00002}.tar`;
const PACKAGE = JSON.parse(readFileSync(new URL("../../../package.json", import.meta.url), "utf8"));

function sseg(...args: string[]) {
  return spawnSync(process.execPath, [MAIN, ...args], { encoding: "utf8" });
}

test("sseg --help lists every subcommand", () => {
  const r = sseg("--help");
  assert.equal(r.status, 0);
  for (const name of ["segment", "pseudo", "train", "eval", "export", "selftrain", "data", "bench", "demo"]) {
    assert.match(r.stdout, new RegExp(`^  ${name}\\b`, "m"), `--help lists ${name}`);
  }
});

test("sseg --version prints the package version", () => {
  const r = sseg("--version");
  assert.equal(r.status, 0);
  assert.equal(r.stdout.trim(), PACKAGE.version);
});

test("an unknown command is an error with a hint", () => {
  const r = sseg("segmnet");
  assert.notEqual(r.status, 0);
  assert.match(r.stderr, /unknown command 'segmnet'/);
});

test("sseg demo (npm start) segments the given images with the shipped model and writes a summary", async () => {
  const out = await mkdtemp(join(tmpdir(), "sseg-demo-"));
  const image = new URL("../../../test/fixtures/images/exif_orientation6.jpg", import.meta.url).pathname;
  const r = sseg("demo", image, "--classes", "cat,dog", "--out", out);
  assert.equal(r.status, 0, r.stderr);
  assert.doesNotMatch(r.stderr, /UNTRAINED/, "the shipped model runs, not an untrained fallback");
  const summary = JSON.parse(await readFile(join(out, "summary.json"), "utf8"));
  assert.deepEqual(summary.classes, ["cat", "dog"]);
  assert.equal(summary.trained, true);
  assert.match(summary.model, /assets\/model\/model\.safetensors$/);
  const shares = summary.results[0].regions.reduce((s: number, x: { share: number }) => s + x.share, 0);
  assert.ok(Math.abs(shares - 1) < 1e-3, `pixel shares sum to ${shares}`);
  await readFile(join(out, "exif_orientation6.png"));
  await readFile(join(out, "exif_orientation6.overlay.png"));
});

test("sseg demo names a missing image", () => {
  const r = sseg("demo", "/nonexistent/photo.jpg");
  assert.equal(r.status, 1);
  assert.match(r.stderr, /no such image file or folder: \/nonexistent\/photo\.jpg/);
});

test("sseg pseudo writes a cluster label PNG, an overlay and a summary per image", async () => {
  const out = await mkdtemp(join(tmpdir(), "sseg-pseudo-"));
  const image = new URL("../../../test/fixtures/images/exif_orientation6.jpg", import.meta.url).pathname;
  const r = sseg("pseudo", image, "--features", "rgb", "--k", "3", "--size", "64", "--out", out);
  assert.equal(r.status, 0, r.stderr);
  assert.match(r.stdout, /features rgb · K = 3/);
  const summary = JSON.parse(await readFile(join(out, "summary.json"), "utf8"));
  assert.equal(summary.results[0].masks, 3);
  await readFile(join(out, "exif_orientation6.clusters.png"));
  await readFile(join(out, "exif_orientation6.overlay.png"));
  assert.match(sseg("pseudo", image, "--k", "0").stderr, /--k: expected a positive integer, got "0"/);
});

test("sseg pseudo goes on past a bad image, keeps same-named outputs apart and reports the failure", async () => {
  const dir = await mkdtemp(join(tmpdir(), "sseg-pseudo-bad-"));
  const image = new URL("../../../test/fixtures/images/exif_orientation6.jpg", import.meta.url).pathname;
  const bad = join(dir, "text.png");
  await writeFile(bad, "not an image\n");
  const out = join(dir, "out");
  const r = sseg("pseudo", image, bad, image, "--features", "rgb", "--k", "2", "--size", "32", "--out", out);
  assert.equal(r.status, 1, "exit 1 when an image failed");
  assert.match(r.stderr, /sseg pseudo: 1 of 3 image\(s\) failed:\n {2}.*text\.png: /);
  const summary = JSON.parse(await readFile(join(out, "summary.json"), "utf8"));
  assert.equal(summary.results.length, 2);
  assert.equal(summary.failures[0].file, bad);
  await readFile(join(out, "exif_orientation6.clusters.png"));
  await readFile(join(out, "exif_orientation6-2.clusters.png"));
});

test("sseg train --config takes a JSON configuration and names a bad one in one line", async () => {
  const dir = await mkdtemp(join(tmpdir(), "sseg-config-"));
  const bad = join(dir, "bad.json");
  await writeFile(bad, "{ not json");
  const incomplete = join(dir, "incomplete.json");
  await writeFile(incomplete, JSON.stringify({ name: "x", imageSize: 64 }));
  for (const [file, message] of [
    [join(dir, "missing.json"), /--config .*missing\.json: ENOENT/],
    [bad, /--config .*bad\.json: not JSON/],
    [incomplete, /--config .*incomplete\.json: the model configuration lacks backbone, pixelDecoder/],
  ] as const) {
    const r = sseg("train", "--config", file, "--data", "none", "--out", join(dir, "run"));
    assert.equal(r.status, 1);
    assert.match(r.stderr, message);
  }
});

test("sseg train --general-words takes a chance from 0 to 1 and needs the composites' lexicon", async () => {
  const dir = await mkdtemp(join(tmpdir(), "sseg-general-"));
  const out = join(dir, "run");
  const train = ["train", "--config", "tiny-regions", "--data", "none", "--out", out];
  const r = sseg(...train, "--general-words", "2");
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--general-words: expected a number from 0 to 1, got "2"/);
  const nouns = join(dir, "nouns.txt");
  await writeFile(nouns, "cow\napple\n");
  const withFile = sseg(...train, "--nouns", nouns, "--general-words", "0.2");
  assert.equal(withFile.status, 1);
  assert.match(withFile.stderr, /--general-words: needs the composites' noun lexicon/);
  const both = sseg(...train, "--general-words", "0.2", "--class-nouns");
  assert.equal(both.status, 1);
  assert.match(both.stderr, /give at most one of --general-words and --class-nouns/);
});

test("sseg train stops at SIGTERM like at Ctrl-C: after the step, with a checkpoint to resume from", async () => {
  const dir = await mkdtemp(join(tmpdir(), "sseg-sigterm-"));
  const config = join(dir, "micro.json");
  await writeFile(config, JSON.stringify(micro));
  const out = join(dir, "run");
  const args = ["--config", config, "--data", SAMPLE_SHARDS, "--out", out, "--steps", "1000"];
  const child = spawn(process.execPath, [MAIN, "train", ...args, "--batch-size", "2", "--features", "rgb"]);
  let stdout = "";
  child.stdout.on("data", (chunk) => {
    stdout += chunk;
  });
  let signalled = false;
  child.stderr.on("data", (chunk: Buffer) => {
    if (!signalled && /train \[/.test(chunk.toString())) {
      signalled = true;
      child.kill("SIGTERM");
    }
  });
  const code = await new Promise<number | null>((resolve) => child.on("close", resolve));
  assert.equal(code, 0, stdout);
  const [, step] = stdout.match(/stopped \(interrupted\) at step (\d+)/) ?? [];
  assert.ok(Number(step) >= 1 && Number(step) < 1000, stdout);
  const latest = await readFile(join(out, "checkpoints", "latest"), "utf8");
  assert.equal(latest.trim(), `step-${step.padStart(7, "0")}`);
});

test("integer flags are parsed strictly and named in the error, exit 2 (a usage error)", () => {
  for (const [args, message] of [
    [
      ["data", "composites", "--out", "/nonexistent/x", "--train", "1.5"],
      /--train: expected an integer ≥ 0, got "1\.5"/,
    ],
    [["pseudo", "samples", "--seed", "-1"], /--seed: expected an integer ≥ 0, got "-1"/],
    [
      ["segment", "samples", "--classes", "cat", "--untrained", "micro", "--seed", "x"],
      /--seed: expected an integer ≥ 0/,
    ],
  ] as const) {
    const r = sseg(...args);
    assert.equal(r.status, 2, args.join(" "));
    assert.match(r.stderr, message);
  }
});

test("an error is one line; --debug or SSEG_DEBUG=1 adds its stack trace", () => {
  const args = ["segment", "no-such-photo.jpg", "--classes", "cat"];
  const plain = sseg(...args);
  assert.equal(plain.status, 1);
  assert.equal(plain.stderr.trim().split("\n").length, 1, plain.stderr);
  for (const debug of [
    sseg(...args, "--debug"),
    spawnSync(process.execPath, [MAIN, ...args], {
      encoding: "utf8",
      env: { ...process.env, SSEG_DEBUG: "1" },
    }),
  ]) {
    assert.equal(debug.status, 1);
    assert.match(debug.stderr, /^sseg: no such image file or folder: no-such-photo\.jpg\n.*Error.*\n\s+at /s);
  }
});
