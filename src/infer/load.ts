/**
 * The infer entry point: `loadSegmenter` opens any model — an S-Seg run, checkpoint or .safetensors model
 * (open vocabulary), an S-Seg+ one (closed vocabulary: the classes it was self-trained on), an untrained
 * configuration, or without a source the shipped default model — as a segmenter with the same `segment()`.
 */
import { existsSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type BackendName, initEngine } from "../engine/backend.js";
import { loadSSegModel, type ModelFiles, readStoredModel } from "../model/files.js";
import { CONFIGS } from "../model/presets.js";
import { type SSegConfig, SSegModel } from "../model/sseg.js";
import { isSelfTrainedConfig, loadSelfTrained } from "../model/upernet.js";
import { ClipTokenizer } from "../text/tokenizer.js";
import { Segmenter, SegmenterError } from "./segmenter.js";
import { SelfTrainedSegmenter } from "./selftrained.js";

/** The model `npm start` and `sseg segment` use without --checkpoint: a folder with model.safetensors + config.json. */
export const DEFAULT_MODEL_PATH = fileURLToPath(new URL("../../../assets/model/", import.meta.url));

export type SegmenterSource = string | { untrained: string | SSegConfig; seed?: number };

export interface LoadSegmenterOptions {
  backend?: BackendName;
  /** Threads of the native CPU kernels (default: all cores). */
  threads?: number;
  /** Called as loading proceeds: which step, and the fraction of loading done. */
  onProgress?: (progress: { status: "engine" | "model" | "tokenizer" | "ready"; progress: number }) => void;
}

/** Whether the shipped default model is present. */
export function hasDefaultModel(): boolean {
  return existsSync(join(DEFAULT_MODEL_PATH, "model.safetensors"));
}

/** A segmenter for a model's files, an untrained configuration, or (no source) the shipped default model. */
export async function loadSegmenter(
  source: { untrained: string | SSegConfig; seed?: number },
  options?: LoadSegmenterOptions,
): Promise<Segmenter>;
export async function loadSegmenter(
  source?: string,
  options?: LoadSegmenterOptions,
): Promise<Segmenter | SelfTrainedSegmenter>;
export async function loadSegmenter(
  source?: SegmenterSource,
  options: LoadSegmenterOptions = {},
): Promise<Segmenter | SelfTrainedSegmenter> {
  if (source === undefined) {
    if (!hasDefaultModel())
      throw new SegmenterError(
        `no default model in ${DEFAULT_MODEL_PATH}: give a checkpoint, a .safetensors model or { untrained: "tiny" }`,
      );
    source = DEFAULT_MODEL_PATH;
  }
  const report = options.onProgress ?? (() => {});
  report({ status: "engine", progress: 0 });
  const engine = await initEngine({ backend: options.backend, threads: options.threads });
  report({ status: "model", progress: 0.1 });
  const describe = (files: { weights: string; step?: number }) =>
    files.step === undefined ? files.weights : `${files.weights} (step ${files.step})`;
  let model: SSegModel;
  let description: string;
  let files: ModelFiles | undefined;
  if (typeof source === "string") {
    const stored = await readStoredModel(source);
    if (isSelfTrainedConfig(stored.config)) {
      const selfTrained = await loadSelfTrained(stored);
      report({ status: "ready", progress: 1 });
      const name = `S-Seg+ ${describe(selfTrained.files)}`;
      return new SelfTrainedSegmenter(selfTrained.model, selfTrained.config, name, selfTrained.files, engine);
    }
    ({ model, files } = await loadSSegModel(stored));
    description = describe(files);
  } else {
    const config = typeof source.untrained === "string" ? CONFIGS[source.untrained] : source.untrained;
    if (!config)
      throw new SegmenterError(
        `untrained: unknown configuration "${source.untrained}"; expected ${Object.keys(CONFIGS).join(" | ")}`,
      );
    const seed = source.seed ?? 0;
    model = new SSegModel(config, { seed });
    description = `untrained ${config.name} (seed ${seed})`;
  }
  report({ status: "tokenizer", progress: 0.9 });
  const tokenizer = await ClipTokenizer.load();
  report({ status: "ready", progress: 1 });
  return new Segmenter(model.eval(), tokenizer, { description, trained: files !== undefined, files, engine });
}
