import assert from "node:assert/strict";
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { CheckpointError } from "../../src/io/checkpoint-error.js";
import { latestCheckpoint, loadCheckpoint, saveCheckpoint } from "../../src/train/checkpoint.js";
import { assertRejectsWith } from "../support/errors.js";

function content(step: number) {
  return {
    model: { "layer.weight": { shape: [2, 2], data: Float32Array.from([step, 1, 2, 3]) } },
    optimizer: { "exp_avg.layer.weight": { shape: [2, 2], data: Float32Array.from([0.5, step, 0, 0]) } },
    state: { step, samplesSeen: 64 * step, config: { name: "tiny" } },
  };
}

test("checkpoints are written whole, the newest ones kept, and read back exactly", async (t) => {
  const run = await mkdtemp(join(tmpdir(), "sseg-ckpt-"));
  t.after(() => rm(run, { recursive: true, force: true }));
  assert.equal(await latestCheckpoint(run), undefined);
  await mkdir(join(run, "checkpoints", ".step-0000009.dead.tmp"), { recursive: true });
  for (const step of [10, 20, 30]) await saveCheckpoint(run, content(step), 2);
  assert.deepEqual((await readdir(join(run, "checkpoints"))).sort(), [
    "latest",
    "step-0000020",
    "step-0000030",
  ]);
  const loaded = await loadCheckpoint<{ samplesSeen: number; config: { name: string } }>(run);
  assert.equal(loaded.state.step, 30);
  assert.equal(loaded.state.samplesSeen, 1920);
  assert.deepEqual([...(loaded.model.get("layer.weight")?.data ?? [])], [30, 1, 2, 3]);
  assert.deepEqual(loaded.optimizer.get("exp_avg.layer.weight")?.shape, [2, 2]);
  const older = await loadCheckpoint(join(run, "checkpoints", "step-0000020"));
  assert.equal(older.state.step, 20);
});

test("a run without a usable checkpoint is a clear error", async (t) => {
  const run = await mkdtemp(join(tmpdir(), "sseg-ckpt-"));
  t.after(() => rm(run, { recursive: true, force: true }));
  await assertRejectsWith(loadCheckpoint(run), CheckpointError, "neither a checkpoint nor a run with one");
  await mkdir(join(run, "checkpoints"), { recursive: true });
  await writeFile(join(run, "checkpoints", "latest"), "step-0000005\n");
  await assertRejectsWith(loadCheckpoint(run), CheckpointError, "holds no complete checkpoint");
});
