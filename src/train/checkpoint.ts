/**
 * Training checkpoints: `run/checkpoints/step-000123/` with `model.safetensors` (the state dict under its
 * PyTorch-style names), `optimizer.safetensors` (the optimizer's moments) and `state.json` (config, step,
 * samples seen, optimizer step, anything the trainer needs to continue exactly). A checkpoint is written into a
 * temporary folder and renamed into place, then `latest` is updated atomically, so a crash at any moment leaves
 * the previous checkpoint intact and `latest` never names a half-written one.
 */
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { readdir, readFile, rename, rm } from "node:fs/promises";
import { join } from "node:path";
import { writeFileAtomic } from "../io/atomic.js";
import { readSafetensors, type TensorToWrite, toFloat32, writeSafetensors } from "../io/safetensors.js";
import type { TensorData } from "../nn/module.js";

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

export class CheckpointError extends Error {
  override name = "CheckpointError";
}

const LATEST = "latest";

function stepFolder(step: number): string {
  return `step-${String(step).padStart(7, "0")}`;
}

/** Write a checkpoint of `content.state.step` and keep only the newest `keep` ones. Returns its folder. */
export async function saveCheckpoint<State>(
  runDir: string,
  content: CheckpointContent<State>,
  keep = 2,
): Promise<string> {
  const root = join(runDir, "checkpoints");
  const name = stepFolder(content.state.step);
  const temp = join(root, `.${name}.${randomBytes(4).toString("hex")}.tmp`);
  const metadata = { format: "sseg-checkpoint", step: String(content.state.step) };
  await writeSafetensors(join(temp, "model.safetensors"), content.model, metadata);
  await writeSafetensors(join(temp, "optimizer.safetensors"), content.optimizer, metadata);
  await writeFileAtomic(join(temp, "state.json"), `${JSON.stringify(content.state, null, 2)}\n`);
  const final = join(root, name);
  await rm(final, { recursive: true, force: true });
  await rename(temp, final);
  await writeFileAtomic(join(root, LATEST), `${name}\n`);
  const older = (await readdir(root)).filter((f) => /^step-\d+$/.test(f) && f !== name).sort();
  for (const old of older.slice(0, Math.max(0, older.length + 1 - keep))) {
    await rm(join(root, old), { recursive: true, force: true });
  }
  for (const stale of (await readdir(root)).filter((f) => f.endsWith(".tmp"))) {
    await rm(join(root, stale), { recursive: true, force: true });
  }
  return final;
}

/** The folder `latest` names in a run, or undefined when the run has no checkpoint yet. */
export async function latestCheckpoint(runDir: string): Promise<string | undefined> {
  const pointer = join(runDir, "checkpoints", LATEST);
  if (!existsSync(pointer)) return undefined;
  const dir = join(runDir, "checkpoints", (await readFile(pointer, "utf8")).trim());
  if (!existsSync(join(dir, "state.json")))
    throw new CheckpointError(`${pointer} names ${dir}, which holds no complete checkpoint`);
  return dir;
}

async function readTensors(path: string): Promise<Map<string, TensorData>> {
  const file = await readSafetensors(path).catch((err: Error) => {
    throw new CheckpointError(`${path}: ${err.message}`);
  });
  const out = new Map<string, TensorData>();
  for (const [name, t] of file.tensors) out.set(name, { shape: t.shape, data: toFloat32(t) });
  return out;
}

/** Read a checkpoint folder (or a run folder: its latest checkpoint). */
export async function loadCheckpoint<State>(path: string): Promise<LoadedCheckpoint<State>> {
  const dir = existsSync(join(path, "state.json")) ? path : await latestCheckpoint(path);
  if (dir === undefined) throw new CheckpointError(`${path}: neither a checkpoint nor a run with one`);
  let state: State & { step: number };
  try {
    state = JSON.parse(await readFile(join(dir, "state.json"), "utf8"));
  } catch (err) {
    throw new CheckpointError(`${join(dir, "state.json")}: unreadable (${(err as Error).message})`);
  }
  return {
    dir,
    model: await readTensors(join(dir, "model.safetensors")),
    optimizer: await readTensors(join(dir, "optimizer.safetensors")),
    state,
  };
}
