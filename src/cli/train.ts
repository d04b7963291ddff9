import { readFile } from "node:fs/promises";
import type { Command } from "commander";
import { initEngine } from "../engine/backend.js";
import { CONFIGS } from "../model/presets.js";
import { checkConfig, type SSegConfig } from "../model/sseg.js";
import {
  DEFAULT_LR,
  DEFAULT_TRAIN_OPTIONS,
  DEFAULT_WARMUP_STEPS,
  train,
  type ValidationRecord,
} from "../train/trainer.js";
import { nonNegativeInteger, numberInRange, positiveInteger, positiveNumber } from "./flags.js";
import { percent, runControls } from "./run-controls.js";

interface TrainFlags {
  config: string;
  data: string;
  out: string;
  steps: string;
  batchSize: string;
  accumulate: string;
  lr?: string;
  warmup?: string;
  features: string;
  nouns?: string;
  generalWords?: string;
  k: string;
  seed: string;
  checkpointEvery: string;
  maxMinutes?: string;
  val?: string;
  valEvery: string;
  valLimit?: string;
  resume: boolean;
  overwrite: boolean;
  strict?: boolean;
  allowOutsidePaths?: boolean;
}

export function registerTrain(program: Command): void {
  const d = DEFAULT_TRAIN_OPTIONS;
  program
    .command("train")
    .description("train the S-Seg MaskFormer from image–caption pairs and pseudo-masks")
    .requiredOption(
      "--data <source>",
      "pairs: shards (train/{00000..00019}.tar), captions .jsonl/.csv or its folder",
    )
    .option(
      "--config <name>",
      `model configuration: ${Object.keys(CONFIGS).join(" | ")}, or a .json file holding one`,
      d.config,
    )
    .option("-o, --out <dir>", "run folder (log.jsonl, loss.png, checkpoints/)", "runs/tiny")
    .option("--steps <n>", "optimiser steps", String(d.steps))
    .option("--batch-size <n>", "pairs per micro-batch", String(d.batchSize))
    .option("--accumulate <n>", "micro-batches per step (gradient accumulation)", String(d.accumulate))
    .option(
      "--lr <x>",
      `peak learning rate (AdamW, cosine schedule; default: the configuration's, else ${DEFAULT_LR})`,
    )
    .option(
      "--warmup <n>",
      `linear warm-up steps (default: the configuration's, else ${DEFAULT_WARMUP_STEPS})`,
    )
    .option("-f, --features <source>", "pseudo-mask features (see sseg pseudo --help)", d.features)
    .option("-k, --k <n>", "pseudo-masks per image", String(d.k))
    .option(
      "--nouns <file>",
      "caption object nouns, one per line, for a model with a region head (default: the composites')",
    )
    .option(
      "--general-words <p>",
      "region head: a caption noun also names its WordNet general words, and is replaced by one with chance p",
    )
    .option("--seed <n>", "seed of weights, data order, augmentation and dropout", String(d.seed))
    .option("--checkpoint-every <n>", "steps between checkpoints", String(d.checkpointEvery))
    .option("--max-minutes <m>", "stop cleanly at a checkpoint before m minutes (resume later with --resume)")
    .option("--val <dir>", "validation set (VOC layout + classes.txt) scored during training; best kept")
    .option("--val-every <n>", "steps between validations", String(d.valEvery))
    .option("--val-limit <n>", "score only the first n validation images")
    .option("--resume", "continue the run in --out from its latest checkpoint, exactly", false)
    .option("--overwrite", "start over in an --out that holds a run (removes its log and checkpoints)", false)
    .option("--strict", "refuse the data at its first bad sample or index line (default: skip and count)")
    .option("--allow-outside-paths", "a caption index may name images outside its folder")
    .action(async (flags: TrainFlags) => {
      const engine = await initEngine();
      const steps = positiveInteger(flags.steps, "--steps");
      const batchSize = positiveInteger(flags.batchSize, "--batch-size");
      const accumulate = positiveInteger(flags.accumulate, "--accumulate");
      const controls = runControls("train", steps, flags.maxMinutes, (record) => {
        const val = record as ValidationRecord;
        return `mIoU ${val.miouWithBackground === undefined ? "" : `${percent(val.miouWithBackground)} with / `}${percent(val.miouWithoutBackground)} without background · masks oracle-labelled ${percent(val.maskOracleWithBackground)} / ${percent(val.maskOracleWithoutBackground)}${val.imageTop1 === undefined ? "" : ` · image top-1 ${percent(val.imageTop1)}`}`;
      });
      console.log(`sseg train · ${flags.config} · ${flags.data} → ${flags.out} · backend ${engine.backend}`);
      const summary = await train({
        ...d,
        config: flags.config.endsWith(".json") ? await readConfigFile(flags.config) : flags.config,
        data: flags.data,
        out: flags.out,
        steps,
        batchSize,
        accumulate,
        lr: flags.lr === undefined ? undefined : positiveNumber(flags.lr, "--lr"),
        warmupSteps: flags.warmup === undefined ? undefined : nonNegativeInteger(flags.warmup, "--warmup"),
        features: flags.features,
        k: positiveInteger(flags.k, "--k"),
        nouns: flags.nouns,
        generalWords:
          flags.generalWords === undefined
            ? undefined
            : numberInRange(flags.generalWords, "--general-words", 0, 1),
        seed: nonNegativeInteger(flags.seed, "--seed"),
        checkpointEvery: positiveInteger(flags.checkpointEvery, "--checkpoint-every"),
        maxMinutes:
          flags.maxMinutes === undefined ? undefined : positiveNumber(flags.maxMinutes, "--max-minutes"),
        val: flags.val,
        valEvery: positiveInteger(flags.valEvery, "--val-every"),
        valLimit: flags.valLimit === undefined ? undefined : positiveInteger(flags.valLimit, "--val-limit"),
        resume: flags.resume,
        overwrite: flags.overwrite,
        strict: flags.strict,
        allowOutsidePaths: flags.allowOutsidePaths,
        onEstimate: controls.onEstimate,
        shouldStop: controls.shouldStop,
        onStep: controls.onStep,
      });
      controls.finish(summary);
    });
}

/** A model configuration written as JSON (a preset's fields, e.g. with one switch changed for an ablation). */
async function readConfigFile(path: string): Promise<SSegConfig> {
  const text = await readFile(path, "utf8").catch((err: Error) => {
    throw new Error(`--config ${path}: ${err.message}`);
  });
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new Error(`--config ${path}: not JSON (${(err as Error).message})`);
  }
  return checkConfig(value, `--config ${path}`);
}
