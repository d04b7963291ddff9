import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { before, test } from "node:test";
import { initEngine } from "../../src/engine/backend.js";
import { loadSegmenter } from "../../src/infer/load.js";
import { readSafetensors } from "../../src/io/safetensors-file.js";
import { micro } from "../../src/model/presets.js";
import { DEFAULT_TRAIN_OPTIONS, train } from "../../src/train/trainer.js";

const MAIN = new URL("../../src/cli/main.js", import.meta.url).pathname;
const SAMPLE = `${new URL("../../../data/composites-sample/train/", import.meta.url).pathname}{00000..00002}.tar`;

before(() => initEngine());

test("sseg export writes a run as a model folder (F16 weights + config.json) that segments like the run; --masks, --flip and --refine set its inference", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "sseg-export-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const run = join(dir, "run");
  const config = { ...micro, inference: { ...micro.inference!, background: { threshold: 0.2 } } };
  await train({
    ...DEFAULT_TRAIN_OPTIONS,
    config,
    data: SAMPLE,
    out: run,
    steps: 2,
    batchSize: 2,
    features: "rgb",
  });
  const out = join(dir, "model");
  const r = spawnSync(process.execPath, [MAIN, "export", run, "--out", out, "--name", "shipped"], {
    encoding: "utf8",
  });
  assert.equal(r.status, 0, r.stderr);
  assert.match(
    r.stdout,
    /model\.safetensors \(\d+\.\d MiB, F16\) \+ config\.json "shipped" from .*\(step 2\)/,
  );
  const stored = JSON.parse(await readFile(join(out, "config.json"), "utf8"));
  assert.deepEqual(
    stored,
    { ...config, name: "shipped" },
    "the run's configuration with its inference settings",
  );
  const file = await readSafetensors(join(out, "model.safetensors"));
  assert.ok([...file.tensors.values()].every((tensor) => tensor.dtype === "F16"));
  assert.equal(file.metadata.format, "sseg-model");

  const image = {
    width: 40,
    height: 30,
    data: Uint8Array.from({ length: 40 * 30 * 3 }, (_, i) => (i * 37) % 256),
  };
  const [fromRun, fromFolder] = [await loadSegmenter(run), await loadSegmenter(out)];
  t.after(() => {
    fromRun.dispose();
    fromFolder.dispose();
  });
  const a = fromRun.predict(image, ["cat", "dog", "grass"]).scores;
  const b = fromFolder.predict(image, ["cat", "dog", "grass"]).scores;
  const worst = a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i])), 0);
  assert.ok(worst < 1e-2, `F16 weights change the scores by ${worst}`);

  const bad = spawnSync(process.execPath, [MAIN, "export", run, "--out", out, "--dtype", "f8"], {
    encoding: "utf8",
  });
  assert.equal(bad.status, 2, "a bad flag value is a usage error");
  assert.match(bad.stderr, /--dtype: expected f16 or f32, got "f8"/);

  const winner = spawnSync(
    process.execPath,
    [MAIN, "export", run, "--out", out, "--masks", "winner", "--flip", "--refine"],
    { encoding: "utf8" },
  );
  assert.equal(winner.status, 0, winner.stderr);
  const withRule = JSON.parse(await readFile(join(out, "config.json"), "utf8"));
  assert.deepEqual(
    withRule.inference,
    { ...config.inference, masks: "winner", flip: true, refine: true },
    "--masks, --flip and --refine set the stored mask rule, flip test and refinement",
  );
  const badRule = spawnSync(process.execPath, [MAIN, "export", run, "--out", out, "--masks", "best"], {
    encoding: "utf8",
  });
  assert.equal(badRule.status, 2);
  assert.match(badRule.stderr, /--masks: expected mix or winner, got "best"/);
});
