/**
 * Training checkpoints: `run/checkpoints/step-000123/` with `model.safetensors` (the state dict under its
 * PyTorch-style names), `optimizer.safetensors` (the optimizer's moments) and `state.json` (config, step,
 * samples seen, optimizer step, anything the trainer needs to continue exactly). A checkpoint is written into a
 * temporary folder and renamed into place, then `latest` is updated atomically, so a crash at any moment leaves
 * the previous checkpoint intact and `latest` never names a half-written one.
 */
import { randomBytes } from "node:crypto";
import { readdir, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "../io/atomic.js";
import { type TensorToWrite, writeSafetensors } from "../io/safetensors.js";
import { CHECKPOINT_LAYOUT, checkpointFolder, readJson, readTensorFile } from "../model/files.js";
import type { TensorData } from "../nn/module.js";

export { CheckpointError, latestCheckpoint } from "../model/files.js";

export interface CheckpointContent<State> {
  /** Model parameters and buffers by name. */
  model: Record<string, TensorToWrite>;
  /** Optimizer tensors by name (e.g. `exp_avg.<param>`). */
  optimizer: Record<string, TensorToWrite>;
  /** Everything else, as JSON. */
  state: State & { step: number };
}

export interface LoadedCheckpoint<State> {
  dir: string;
  model: Map<string, TensorData>;
  optimizer: Map<string, TensorData>;
  state: State & { step: number };
}

function stepFolder(step: number): string {
  return `step-${String(step).padStart(7, "0")}`;
}

/** Write a checkpoint of `content.state.step` and keep only the newest `keep` ones. Returns its folder. */
export async function saveCheckpoint<State>(
  runDir: string,
  content: CheckpointContent<State>,
  keep = 2,
): Promise<string> {
  const root = join(runDir, CHECKPOINT_LAYOUT.folder);
  const name = stepFolder(content.state.step);
  const temp = join(root, `.${name}.${randomBytes(4).toString("hex")}.tmp`);
  const metadata = { format: "sseg-checkpoint", step: String(content.state.step) };
  await writeSafetensors(join(temp, CHECKPOINT_LAYOUT.model), content.model, metadata);
  await writeSafetensors(join(temp, CHECKPOINT_LAYOUT.optimizer), content.optimizer, metadata);
  await writeFileAtomic(join(temp, CHECKPOINT_LAYOUT.state), `${JSON.stringify(content.state, null, 2)}\n`);
  const final = join(root, name);
  await rm(final, { recursive: true, force: true });
  await rename(temp, final);
  await writeFileAtomic(join(root, CHECKPOINT_LAYOUT.latest), `${name}\n`);
  const older = (await readdir(root)).filter((f) => /^step-\d+$/.test(f) && f !== name).sort();
  for (const old of older.slice(0, Math.max(0, older.length + 1 - keep))) {
    await rm(join(root, old), { recursive: true, force: true });
  }
  for (const stale of (await readdir(root)).filter((f) => f.endsWith(".tmp"))) {
    await rm(join(root, stale), { recursive: true, force: true });
  }
  return final;
}

/** Read a checkpoint folder (or a run folder: its latest checkpoint). */
export async function loadCheckpoint<State>(path: string): Promise<LoadedCheckpoint<State>> {
  const dir = await checkpointFolder(path);
  return {
    dir,
    model: await readTensorFile(join(dir, CHECKPOINT_LAYOUT.model)),
    optimizer: await readTensorFile(join(dir, CHECKPOINT_LAYOUT.optimizer)),
    state: (await readJson(join(dir, CHECKPOINT_LAYOUT.state))) as State & { step: number },
  };
}
