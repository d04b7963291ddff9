/**
 * Where a model's files are and how they are laid out: a training checkpoint folder (`state.json` with the config
 * + `model.safetensors`), a run folder (its `checkpoints/latest`), or a shipped model (a `.safetensors` file with
 * its JSON config beside it: `<name>.json` or `config.json`). The trainer writes this layout; everything that
 * loads a model reads it through here.
 */
import { existsSync, statSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { replaceFolderAtomic, writeFileAtomic } from "../io/atomic.js";
import { CheckpointError } from "../io/checkpoint-error.js";
import { type TensorToWrite, toFloat32 } from "../io/safetensors.js";
import { readSafetensors, writeSafetensors } from "../io/safetensors-file.js";
import type { TensorData } from "../nn/module.js";
import { checkConfig, SSegModel } from "./sseg.js";

export const CHECKPOINT_LAYOUT = {
  folder: "checkpoints",
  latest: "latest",
  model: "model.safetensors",
  optimizer: "optimizer.safetensors",
  state: "state.json",
} as const;

/**
 * nsfwjs's MobileNetV2 trunk, shipped in pretrained/ (its README says what it is and how it was made): where the
 * `mobilenet_v2` backbone starts from and what the `mobilenet` pseudo-mask feature source runs.
 */
export const PRETRAINED_MOBILENET_FILE = fileURLToPath(
  new URL("../../../pretrained/mobilenet_v2_nsfwjs.safetensors", import.meta.url),
);

/** The folder `latest` names in a run, or undefined when the run has no checkpoint yet. */
export async function latestCheckpoint(runDir: string): Promise<string | undefined> {
  const pointer = join(runDir, CHECKPOINT_LAYOUT.folder, CHECKPOINT_LAYOUT.latest);
  if (!existsSync(pointer)) return undefined;
  const dir = join(runDir, CHECKPOINT_LAYOUT.folder, (await readFile(pointer, "utf8")).trim());
  if (!existsSync(join(dir, CHECKPOINT_LAYOUT.state)))
    throw new CheckpointError(`${pointer} names ${dir}, which holds no complete checkpoint`);
  return dir;
}

/** A checkpoint folder itself, or a run folder's latest checkpoint. */
export async function checkpointFolder(path: string): Promise<string> {
  if (existsSync(join(path, CHECKPOINT_LAYOUT.state))) return path;
  const dir = await latestCheckpoint(path);
  if (dir === undefined) throw new CheckpointError(`${path}: neither a checkpoint nor a run with one`);
  return dir;
}

/** A model's weights file and the JSON file holding its configuration (under `configKey` when nested). */
export interface ModelFiles {
  weights: string;
  configFile: string;
  configKey?: "config";
  /** Training step, for checkpoints. */
  step?: number;
}

/**
 * Resolve a model path: a `.safetensors` file (config in `<stem>.json` or `config.json` beside it), a folder with
 * `model.safetensors` + `config.json`, a checkpoint folder or a run folder.
 */
export async function resolveModelFiles(path: string): Promise<ModelFiles> {
  if (!existsSync(path)) throw new CheckpointError(`${path}: no such model file or folder`);
  if (statSync(path).isFile()) {
    if (!path.endsWith(".safetensors"))
      throw new CheckpointError(
        `${path}: not a model (give a .safetensors file, a checkpoint folder or a run folder)`,
      );
    const candidates = [
      join(dirname(path), `${basename(path, ".safetensors")}.json`),
      join(dirname(path), "config.json"),
    ];
    const configFile = candidates.find((file) => existsSync(file));
    if (!configFile)
      throw new CheckpointError(`${path}: no configuration beside it (expected ${candidates.join(" or ")})`);
    return { weights: path, configFile };
  }
  if (existsSync(join(path, "config.json")) && existsSync(join(path, CHECKPOINT_LAYOUT.model)))
    return { weights: join(path, CHECKPOINT_LAYOUT.model), configFile: join(path, "config.json") };
  const dir = await checkpointFolder(path);
  const files: ModelFiles = {
    weights: join(dir, CHECKPOINT_LAYOUT.model),
    configFile: join(dir, CHECKPOINT_LAYOUT.state),
    configKey: "config",
  };
  const step = (await readJson(files.configFile)).step;
  return typeof step === "number" ? { ...files, step } : files;
}

export async function readJson(path: string): Promise<Record<string, unknown>> {
  let value: unknown;
  try {
    value = JSON.parse(await readFile(path, "utf8"));
  } catch (err) {
    throw new CheckpointError(`${path}: unreadable (${(err as Error).message})`);
  }
  if (typeof value !== "object" || value === null || Array.isArray(value))
    throw new CheckpointError(`${path}: expected a JSON object`);
  return value as Record<string, unknown>;
}

/** A model's files and the configuration stored in its JSON file (not yet checked), read once. */
export interface StoredModel {
  files: ModelFiles;
  config: unknown;
}

export async function readStoredModel(path: string): Promise<StoredModel> {
  const files = await resolveModelFiles(path);
  const json = await readJson(files.configFile);
  return { files, config: files.configKey ? json[files.configKey] : json };
}

/** Replace one top-level field of the stored configuration (e.g. tuned inference defaults), atomically. */
export async function updateStoredConfig(files: ModelFiles, field: string, value: unknown): Promise<void> {
  const json = await readJson(files.configFile);
  const config = (files.configKey ? json[files.configKey] : json) as Record<string, unknown>;
  config[field] = value;
  await writeFileAtomic(files.configFile, `${JSON.stringify(json, null, 2)}\n`);
}

/** Every tensor of a safetensors file as float32, by name. */
export async function readTensorFile(path: string): Promise<Map<string, TensorData>> {
  const file = await readSafetensors(path).catch((err: Error) => {
    throw new CheckpointError(err.message.startsWith(path) ? err.message : `${path}: ${err.message}`);
  });
  const out = new Map<string, TensorData>();
  for (const [name, t] of file.tensors) out.set(name, { shape: t.shape, data: toFloat32(t) });
  return out;
}

/** The largest finite IEEE half. */
const F16_MAX = 65504;

/**
 * Write a model folder (`model.safetensors` + `config.json`, what `resolveModelFiles` reads as a shipped model):
 * weights only, F16 by default — half the size and ample for inference; a tensor beyond F16's range stays F32.
 * The folder is replaced atomically (`replaceFolderAtomic`). Returns the weights file's size in bytes.
 */
export async function writeModelFolder(
  dir: string,
  weights: ReadonlyMap<string, TensorData>,
  config: object,
  options: { dtype?: "F16" | "F32"; metadata?: Record<string, string> } = {},
): Promise<number> {
  const dtype = options.dtype ?? "F16";
  const tensors: Record<string, TensorToWrite> = {};
  for (const [name, { shape, data }] of weights) {
    const fits = dtype === "F32" || data.every((x) => !(Math.abs(x) > F16_MAX));
    tensors[name] = { shape, data, dtype: fits ? dtype : "F32" };
  }
  let size = 0;
  await replaceFolderAtomic(dir, async (temp) => {
    const weightsFile = join(temp, CHECKPOINT_LAYOUT.model);
    await writeSafetensors(weightsFile, tensors, { format: "sseg-model", ...options.metadata });
    await writeFile(join(temp, "config.json"), `${JSON.stringify(config, null, 2)}\n`);
    size = statSync(weightsFile).size;
  });
  return size;
}

/**
 * A trained S-Seg model from its files: a checkpoint or run folder, or a `.safetensors` file with its JSON config.
 * Errors name the file and what does not fit.
 */
export async function loadSSegModel(
  source: string | StoredModel,
): Promise<{ model: SSegModel; files: ModelFiles }> {
  const { files, config: stored } = typeof source === "string" ? await readStoredModel(source) : source;
  const config = checkConfig(stored, files.configFile);
  const weights = await readTensorFile(files.weights);
  let model: SSegModel | undefined;
  try {
    model = new SSegModel(config);
    model.loadStateDict(weights);
  } catch (err) {
    model?.dispose();
    throw new CheckpointError(
      `${files.weights}: does not fit the configuration "${config.name}" in ${files.configFile}: ${(err as Error).message}`,
    );
  }
  return { model, files };
}
