/**
 * Training checkpoints: `run/checkpoints/step-000123/` with `model.safetensors` (the state dict under its
 * PyTorch-style names), `optimizer.safetensors` (the optimizer's moments) and `state.json` (config, step,
 * samples seen, optimizer step, anything the trainer needs to continue exactly). A checkpoint is written into a
 * temporary folder and renamed into place, then `latest` is updated atomically, so a crash at any moment leaves
 * the previous checkpoint intact and `latest` never names a half-written one.
 */

import { existsSync } from "node:fs";
import { cp, mkdir, readdir, rm } from "node:fs/promises";
import { join } from "node:path";
import { replaceFolderAtomic, writeFileAtomic } from "../io/atomic.js";
import { CheckpointError } from "../io/checkpoint-error.js";
import type { TensorToWrite } from "../io/safetensors.js";
import { writeSafetensors } from "../io/safetensors-file.js";
import {
  CHECKPOINT_LAYOUT,
  checkpointFolder,
  latestCheckpoint,
  readJson,
  readTensorFile,
} from "../model/files.js";
import type { Module, TensorData } from "../nn/module.js";
import type { AdamW } from "./optimizer.js";

export { latestCheckpoint } from "../model/files.js";

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
  const metadata = { format: "sseg-checkpoint", step: String(content.state.step) };
  const final = join(root, name);
  await replaceFolderAtomic(final, async (temp) => {
    await writeSafetensors(join(temp, CHECKPOINT_LAYOUT.model), content.model, metadata);
    await writeSafetensors(join(temp, CHECKPOINT_LAYOUT.optimizer), content.optimizer, metadata);
    await writeFileAtomic(join(temp, CHECKPOINT_LAYOUT.state), `${JSON.stringify(content.state, null, 2)}\n`);
  });
  await writeFileAtomic(join(root, CHECKPOINT_LAYOUT.latest), `${name}\n`);
  const older = (await readdir(root)).filter((f) => /^step-\d+$/.test(f) && f !== name).sort();
  for (const old of older.slice(0, Math.max(0, older.length + 1 - keep))) {
    await rm(join(root, old), { recursive: true, force: true });
  }
  await removeStaleTemporaries(runDir);
  return final;
}

/** Remove half-written checkpoint folders (`.step-….tmp`, `.best….tmp`) a crash or a kill left behind. */
export async function removeStaleTemporaries(runDir: string): Promise<void> {
  const root = join(runDir, CHECKPOINT_LAYOUT.folder);
  const entries = await readdir(root).catch(() => [] as string[]);
  for (const stale of entries.filter((f) => f.endsWith(".tmp"))) {
    await rm(join(root, stale), { recursive: true, force: true });
  }
}

/** What a training run writes into its folder; anything else there (e.g. a copied `mask-cache/`) is kept. */
export const RUN_FILES = ["log.jsonl", "loss.png", "config.json", CHECKPOINT_LAYOUT.folder] as const;

/**
 * Make `runDir` ready for a run. A new run refuses a folder holding another run's files (its log would be cut and
 * the two runs' checkpoints mixed) unless `overwrite` removes them; `resume` needs a checkpoint there. Half-written
 * checkpoint folders are removed either way.
 */
export async function prepareRunFolder(
  runDir: string,
  mode: { resume: boolean; overwrite: boolean },
): Promise<void> {
  if (mode.resume && mode.overwrite) throw new Error("--resume and --overwrite exclude each other");
  await mkdir(runDir, { recursive: true });
  await removeStaleTemporaries(runDir);
  const present = RUN_FILES.filter((name) => existsSync(join(runDir, name)));
  if (mode.resume) {
    if (!(await latestCheckpoint(runDir)))
      throw new Error(
        `--resume: ${runDir} has no checkpoint to resume from; ${present.length ? "start it again with --overwrite" : "start it without --resume"}`,
      );
  } else if (present.length > 0) {
    if (!mode.overwrite)
      throw new Error(
        `--out ${runDir}: already holds a run (${present.join(", ")}); continue it with --resume or start over with --overwrite`,
      );
    for (const name of present) await rm(join(runDir, name), { recursive: true, force: true });
  }
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

/** What a training checkpoint's state.json holds besides the step (see trainer.ts). */
export interface TrainingState {
  step: number;
  samplesSeen: number;
  /** The model configuration (S-Seg's or S-Seg+'s), as the run's task saved it. */
  config: unknown;
  options: Record<string, unknown>;
  optimizer: { steps: Record<string, number> };
}

/** Save the model, the optimiser's moments and the run state as the checkpoint of `state.step`. */
export async function saveTrainingCheckpoint(
  runDir: string,
  model: Module,
  optimizer: AdamW,
  state: Omit<TrainingState, "optimizer">,
): Promise<string> {
  const exported = optimizer.exportState();
  const tensors: Record<string, TensorToWrite> = {};
  const steps: Record<string, number> = {};
  for (const [name, p] of Object.entries(exported.params)) {
    steps[name] = p.step;
    tensors[`exp_avg.${name}`] = { shape: [p.expAvg.length], data: p.expAvg };
    tensors[`exp_avg_sq.${name}`] = { shape: [p.expAvgSq.length], data: p.expAvgSq };
  }
  const weights: Record<string, TensorToWrite> = {};
  for (const [name, v] of model.stateDict())
    weights[name] = { shape: v.shape, data: v.dataSync() as Float32Array };
  return saveCheckpoint<Omit<TrainingState, "step">>(runDir, {
    model: weights,
    optimizer: tensors,
    state: { ...state, optimizer: { steps } },
  });
}

/** Load a training checkpoint into `model` and `optimizer`; returns its run state. */
export async function restoreTrainingCheckpoint(
  path: string,
  model: Module,
  optimizer: AdamW,
): Promise<TrainingState> {
  const checkpoint = await loadCheckpoint<TrainingState>(path);
  model.loadStateDict(checkpoint.model);
  const moment = (key: string) => {
    const tensor = checkpoint.optimizer.get(key);
    if (!tensor) throw new CheckpointError(`${checkpoint.dir}: optimizer.safetensors lacks "${key}"`);
    return Float32Array.from(tensor.data);
  };
  optimizer.importState({
    params: Object.fromEntries(
      Object.entries(checkpoint.state.optimizer.steps).map(([name, step]) => [
        name,
        { step, expAvg: moment(`exp_avg.${name}`), expAvgSq: moment(`exp_avg_sq.${name}`) },
      ]),
    ),
  });
  return checkpoint.state;
}

const BEST = "best";

/** Keep a copy of checkpoint folder `dir` as the run's `checkpoints/best`, with why in best/score.json. */
export async function markBest(runDir: string, dir: string, score: Record<string, number>): Promise<void> {
  await replaceFolderAtomic(join(runDir, CHECKPOINT_LAYOUT.folder, BEST), async (temp) => {
    await cp(dir, temp, { recursive: true });
    await writeFileAtomic(join(temp, "score.json"), `${JSON.stringify(score, null, 2)}\n`);
  });
}

/** The score the run's best checkpoint was kept for, if it has one. */
export async function bestScore(runDir: string): Promise<Record<string, number> | undefined> {
  const path = join(runDir, CHECKPOINT_LAYOUT.folder, BEST, "score.json");
  return existsSync(path) ? ((await readJson(path)) as Record<string, number>) : undefined;
}
