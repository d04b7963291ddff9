import assert from "node:assert/strict";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { before, test } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { initEngine } from "../../src/engine/backend.js";
import { PRETRAINED_MOBILENET_FILE, readTensorFile } from "../../src/model/files.js";
import { micro } from "../../src/model/presets.js";
import { loadCheckpoint } from "../../src/train/checkpoint.js";
import { readLog } from "../../src/train/log.js";
import { checkSameRun } from "../../src/train/loop.js";
import {
  DEFAULT_LR,
  DEFAULT_TRAIN_OPTIONS,
  DEFAULT_WARMUP_STEPS,
  type TrainOptions,
  train,
} from "../../src/train/trainer.js";

before(() => initEngine());

const SAMPLE = `${new URL("../../../data/composites-sample/train/", import.meta.url).pathname}{00000..00002}.tar`;

function options(out: string, overrides: Partial<TrainOptions> = {}): TrainOptions {
  return {
    ...DEFAULT_TRAIN_OPTIONS,
    config: micro,
    data: SAMPLE,
    out,
    steps: 4,
    batchSize: 2,
    warmupSteps: 1,
    checkpointEvery: 100,
    ...overrides,
  };
}

test("training runs, logs every step, checkpoints atomically and draws its loss curve", async (t) => {
  const out = await mkdtemp(join(tmpdir(), "sseg-train-"));
  t.after(() => rm(out, { recursive: true, force: true }));
  const tensorsAfterStep: number[] = [];
  const summary = await train(
    options(out, { steps: 3, accumulate: 2, onStep: () => tensorsAfterStep.push(tf.memory().numTensors) }),
  );
  assert.equal(summary.steps, 3);
  assert.equal(new Set(tensorsAfterStep).size, 1, `no tensor outlives a step: ${tensorsAfterStep}`);
  assert.equal(summary.samplesSeen, 12, "3 steps × 2 micro-batches × 2 pairs");
  const log = await readLog(join(out, "log.jsonl"));
  assert.deepEqual(
    log.map((r) => r.step),
    [1, 2, 3],
  );
  for (const record of log) {
    for (const name of ["total", "mask", "contrastive", "focal", "dice"])
      assert.ok(Number.isFinite(record.losses[name]), `${name} at step ${record.step}`);
    const parts = record.gradNorms as Record<string, number>;
    assert.deepEqual(Object.keys(parts).sort(), [
      "backbone",
      "img_projector",
      "logit_scale",
      "sem_seg_head.pixel_decoder",
      "sem_seg_head.predictor",
      "text_encoder",
      "text_projector",
    ]);
    const total = Math.hypot(...Object.values(parts));
    assert.ok(
      Math.abs(total - (record.gradNorm as number)) < 1e-6 * total,
      "the parts make up the global norm",
    );
  }
  const checkpoint = await loadCheckpoint<{ samplesSeen: number }>(out);
  assert.equal(checkpoint.state.step, 3);
  assert.equal(checkpoint.state.samplesSeen, 12);
  assert.ok(checkpoint.model.has("sem_seg_head.predictor.query_embed.weight"));
  assert.ok((await readFile(join(out, "loss.png"))).length > 1000);
});

test("a stopped run resumed from its checkpoint continues exactly like an uninterrupted run", async (t) => {
  const root = await mkdtemp(join(tmpdir(), "sseg-resume-"));
  t.after(() => rm(root, { recursive: true, force: true }));
  const whole = join(root, "whole");
  const split = join(root, "split");
  await train(options(whole));
  let steps = 0;
  const stopped = await train(options(split, { onStep: () => steps++, shouldStop: () => steps >= 2 }));
  assert.equal(stopped.stopReason, "interrupted");
  assert.equal(stopped.steps, 2);
  await train(options(split, { resume: true }));
  const expected = await readLog(join(whole, "log.jsonl"));
  const resumed = await readLog(join(split, "log.jsonl"));
  assert.deepEqual(
    resumed.map((r) => [r.step, r.losses, r.gradNorm]),
    expected.map((r) => [r.step, r.losses, r.gradNorm]),
  );
  const a = await loadCheckpoint(whole);
  const b = await loadCheckpoint(split);
  for (const [name, tensor] of a.model) assert.deepEqual(b.model.get(name)?.data, tensor.data, name);
  await assert.rejects(
    train(options(join(root, "empty"), { resume: true })),
    /has no checkpoint to resume from; start it without --resume/,
  );
});

test("--init fine-tunes from a trained run's weights; another architecture is refused by name", async (t) => {
  const root = await mkdtemp(join(tmpdir(), "sseg-init-"));
  t.after(() => rm(root, { recursive: true, force: true }));
  const trained = join(root, "trained");
  await train(options(trained, { steps: 2 }));
  const tuned = join(root, "tuned");
  await train(options(tuned, { steps: 1, init: trained, lr: 0, minLr: 0 }));
  const a = await loadCheckpoint(trained);
  const b = await loadCheckpoint(tuned);
  for (const [name, tensor] of a.model)
    if (!/running_|num_batches/.test(name))
      assert.deepEqual(
        b.model.get(name)?.data,
        tensor.data,
        `${name}: at learning rate 0 the weights stay --init's`,
      );
  const freshRun = join(root, "fresh");
  await train(options(freshRun, { steps: 1, lr: 0, minLr: 0 }));
  const fresh = await loadCheckpoint(freshRun);
  assert.notDeepEqual(
    fresh.model.get("sem_seg_head.predictor.query_embed.weight")?.data,
    b.model.get("sem_seg_head.predictor.query_embed.weight")?.data,
    "without --init the weights are fresh",
  );
  const wider = { ...micro, decoder: { ...micro.decoder, queries: micro.decoder.queries + 1 } };
  await assert.rejects(
    train(options(join(root, "wider"), { config: wider, init: trained })),
    /--init .*trained: does not fit the configuration "micro": .*query_embed/,
  );
  await assert.rejects(
    train(options(join(root, "nothing"), { init: join(root, "no-such-run") })),
    /--init: .*no-such-run: no such model file or folder/,
  );
});

test("the learning rate and warm-up default to the configuration's own training settings", async (t) => {
  const root = await mkdtemp(join(tmpdir(), "sseg-lr-"));
  t.after(() => rm(root, { recursive: true, force: true }));
  const config = { ...micro, training: { lr: 0.25, warmupSteps: 0 } };
  const run = async (out: string, overrides: Partial<TrainOptions>) => {
    const { warmupSteps: _, ...rest } = options(join(root, out), { steps: 1, config, ...overrides });
    await train(rest);
    const [first] = await readLog(join(root, out, "log.jsonl"));
    const saved = JSON.parse(await readFile(join(root, out, "config.json"), "utf8"));
    return [first.lr, saved.options.lr, saved.options.warmupSteps];
  };
  assert.deepEqual(await run("from-config", {}), [0.25, 0.25, 0]);
  assert.deepEqual(await run("from-flags", { lr: 0.1 }), [0.1, 0.1, 0]);
  const { training: _, ...plain } = config;
  assert.deepEqual(
    await run("defaults", { config: plain }),
    [0, DEFAULT_LR, DEFAULT_WARMUP_STEPS],
    "warm-up from 0",
  );
});

test("a new run refuses a folder holding another run unless --overwrite; stale temporaries are removed", async (t) => {
  const out = await mkdtemp(join(tmpdir(), "sseg-folder-"));
  t.after(() => rm(out, { recursive: true, force: true }));
  await train(options(out, { steps: 1 }));
  await assert.rejects(
    train(options(out, { steps: 1 })),
    /--out .*: already holds a run \(log\.jsonl, loss\.png, config\.json, checkpoints\); continue it with --resume or start over with --overwrite/,
  );
  await assert.rejects(train(options(out, { resume: true, overwrite: true })), /exclude each other/);
  const stale = join(out, "checkpoints", ".step-0000009.abcd.tmp");
  await mkdir(stale);
  await writeFile(join(out, "mask-cache-note.txt"), "kept");
  const again = await train(options(out, { steps: 2, overwrite: true }));
  assert.equal(again.steps, 2);
  assert.deepEqual(
    (await readLog(join(out, "log.jsonl"))).map((r) => r.step),
    [1, 2],
    "the old run's log is gone, not continued",
  );
  assert.equal(existsSync(stale), false, "a half-written checkpoint folder is removed at start");
  assert.equal(
    await readFile(join(out, "mask-cache-note.txt"), "utf8"),
    "kept",
    "files a run did not write stay",
  );
  await rm(join(out, "checkpoints"), { recursive: true });
  await assert.rejects(
    train(options(out, { resume: true })),
    /has no checkpoint to resume from; start it again with --overwrite/,
  );
});

test("--max-minutes stops at a checkpoint before the time is up, and the run resumes to the end", async (t) => {
  const out = await mkdtemp(join(tmpdir(), "sseg-time-"));
  t.after(() => rm(out, { recursive: true, force: true }));
  const stopped = await train(options(out, { maxMinutes: 1e-6 }));
  assert.equal(stopped.stopReason, "time");
  assert.equal(stopped.steps, 0);
  assert.equal((await loadCheckpoint(out)).state.step, 0, "a checkpoint to resume from");
  let estimate: [number, number] | undefined;
  const resumed = await train(
    options(out, { resume: true, steps: 6, onEstimate: (s, left) => (estimate = [s, left]) }),
  );
  assert.equal(resumed.stopReason, "done");
  assert.equal(resumed.steps, 6);
  assert.ok(estimate && estimate[0] > 0 && estimate[1] === 1, `estimate after 5 steps: ${estimate}`);
});

test("--val scores the model during training, logs it and keeps the best checkpoint", async (t) => {
  const out = await mkdtemp(join(tmpdir(), "sseg-val-"));
  t.after(() => rm(out, { recursive: true, force: true }));
  const val = new URL("../../../data/composites-sample/val", import.meta.url).pathname;
  const summary = await train(options(out, { steps: 3, val, valEvery: 2, valLimit: 2 }));
  assert.ok(summary.lastValidation);
  const log = await readLog(join(out, "log.jsonl"));
  assert.deepEqual(
    log.filter((r) => r.val).map((r) => r.step),
    [2, 3],
    "every 2 steps and at the end",
  );
  for (const record of log.filter((r) => r.val)) {
    const v = record.val as Record<string, number>;
    assert.equal(v.images, 2);
    for (const key of ["miouWithBackground", "miouWithoutBackground", "maskOracleWithBackground"])
      assert.ok(v[key] >= 0 && v[key] <= 1, key);
  }
  const best = JSON.parse(await readFile(join(out, "checkpoints", "best", "score.json"), "utf8"));
  assert.ok([2, 3].includes(best.step));
  assert.equal((await loadCheckpoint(join(out, "checkpoints", "best"))).state.step, best.step);
});

test("the naming recipe trains: pretrained MobileNetV2 (frozen norms kept), caption nouns, a region head (with the unclaimed-region term)", async (t) => {
  const out = await mkdtemp(join(tmpdir(), "sseg-train-regions-"));
  t.after(() => rm(out, { recursive: true, force: true }));
  const config = {
    ...micro,
    backbone: { kind: "mobilenet_v2" as const, pretrained: true, lrScale: 0.1 },
    regions: { hiddenDim: 8, withQuery: false, unclaimedWeight: 1 },
  };
  await train(options(out, { config, steps: 2, features: "rgb" }));
  const log = await readLog(join(out, "log.jsonl"));
  for (const record of log) {
    assert.ok(
      Number.isFinite(record.losses.nouns) && record.losses.nouns > 0,
      `noun loss at step ${record.step}`,
    );
    assert.ok(
      Number.isFinite(record.losses.unclaimed) && record.losses.unclaimed > 0,
      `unclaimed-region loss at step ${record.step}`,
    );
    assert.ok((record.gradNorms as Record<string, number>).region_head > 0);
  }
  const checkpoint = await loadCheckpoint(out);
  const pretrained = await readTensorFile(PRETRAINED_MOBILENET_FILE);
  for (const name of ["stem.bn.running_mean", "stem.bn.weight", "head.bn.running_var"])
    assert.deepEqual(checkpoint.model.get(`backbone.trunk.${name}`)?.data, pretrained.get(name)?.data, name);
  assert.ok(checkpoint.model.has("region_head.no_object_embed"));
});

test("a backbone at lrScale 0 is frozen: no gradient, no optimiser state, its pretrained weights unchanged (regions also pool its res4)", async (t) => {
  const out = await mkdtemp(join(tmpdir(), "sseg-train-frozen-"));
  t.after(() => rm(out, { recursive: true, force: true }));
  const config = {
    ...micro,
    backbone: { kind: "mobilenet_v2" as const, pretrained: true, lrScale: 0 },
    regions: { hiddenDim: 8, withQuery: false, backboneLevel: "res4" as const },
  };
  await train(options(out, { config, steps: 2, features: "rgb" }));
  const log = await readLog(join(out, "log.jsonl"));
  for (const record of log) {
    const norms = record.gradNorms as Record<string, number>;
    assert.ok(!("backbone" in norms) || norms.backbone === 0, JSON.stringify(norms));
    assert.ok(norms.region_head > 0);
  }
  const checkpoint = await loadCheckpoint(out);
  const pretrained = await readTensorFile(PRETRAINED_MOBILENET_FILE);
  for (const name of ["stem.conv.weight", "head.conv.weight"])
    assert.deepEqual(checkpoint.model.get(`backbone.trunk.${name}`)?.data, pretrained.get(name)?.data, name);
  const trained = [...checkpoint.optimizer.keys()];
  assert.ok(trained.length > 0 && trained.every((name) => !name.startsWith("backbone.")), trained.join(", "));
  // the region MLP takes the pooled projected pixels (8) and the 96 channels of MobileNetV2's stride-16 stage
  assert.deepEqual(checkpoint.model.get("region_head.mlp.fc1.weight")?.shape, [8, 8 + 96]);
});

test("a resumed piece must keep the run's trajectory settings; where it stops and saves may change", () => {
  const run = { config: micro, options: { batchSize: 32, seed: 0, steps: 100, maxMinutes: 20 } };
  const piece = (config: unknown, options: Record<string, unknown>) => ({ config, options });
  checkSameRun(
    "runs/a",
    run,
    piece(micro, {
      batchSize: 32,
      seed: 0,
      steps: 300,
      val: "val",
      photometric: undefined,
      finish: () => {},
    }),
  );
  const wider = { ...micro, decoder: { ...micro.decoder, queries: micro.decoder.queries + 1 } };
  assert.throws(
    () => checkSameRun("runs/a", run, piece(wider, { batchSize: 16, seed: 0, photometric: true })),
    new Error(
      "--resume runs/a: not the run's settings (configuration decoder; batchSize 32 in the run, 16 now; photometric unset in the run, true now); resume with its own (config.json), or start a new run from its weights with --init",
    ),
  );
});
