import type { Command } from "commander";
import { initEngine } from "../engine/backend.js";
import { CONFIGS } from "../model/presets.js";
import { checkConfig } from "../model/sseg.js";
import {
  DEFAULT_LR,
  DEFAULT_TRAIN_OPTIONS,
  DEFAULT_WARMUP_STEPS,
  train,
  type ValidationRecord,
} from "../train/trainer.js";
import { configFlag, numberInRange, positiveInteger } from "./flags.js";
import { addRunOptions, percent, type RunFlags, runControls, runOptionsFrom } from "./run-controls.js";

interface TrainFlags extends RunFlags {
  config: string;
  data: string;
  features: string;
  nouns?: string;
  generalWords?: string;
  classNouns?: boolean;
  init?: string;
  k: string;
  strict?: boolean;
  allowOutsidePaths?: boolean;
}

export function registerTrain(program: Command): void {
  const d = DEFAULT_TRAIN_OPTIONS;
  const command = program
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
    );
  addRunOptions(
    command,
    { ...d, out: "runs/tiny" },
    {
      batch: "pairs per micro-batch",
      lr: `peak learning rate (AdamW, cosine schedule; default: the configuration's, else ${DEFAULT_LR})`,
      warmup: `linear warm-up steps (default: the configuration's, else ${DEFAULT_WARMUP_STEPS})`,
    },
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
    .option(
      "--class-nouns",
      "region head: a caption noun also names its class word and synonyms (a crow is a bird), no general words",
    )
    .option(
      "--init <model>",
      "fine-tune: start from a trained model's weights (model folder, run or checkpoint; same architecture as --config)",
    )
    .option("--strict", "refuse the data at its first bad sample or index line (default: skip and count)")
    .option("--allow-outside-paths", "a caption index may name images outside its folder")
    .action(async (flags: TrainFlags) => {
      const engine = await initEngine();
      const run = runOptionsFrom(flags);
      const controls = runControls("train", run.steps, flags.maxMinutes, (record) => {
        const val = record as ValidationRecord;
        return `mIoU ${val.miouWithBackground === undefined ? "" : `${percent(val.miouWithBackground)} with / `}${percent(val.miouWithoutBackground)} without background · masks oracle-labelled ${percent(val.maskOracleWithBackground)} / ${percent(val.maskOracleWithoutBackground)}${val.imageTop1 === undefined ? "" : ` · image top-1 ${percent(val.imageTop1)}`}`;
      });
      console.log(`sseg train · ${flags.config} · ${flags.data} → ${flags.out} · backend ${engine.backend}`);
      const summary = await train({
        ...d,
        ...run,
        config: await configFlag(flags.config, checkConfig),
        data: flags.data,
        features: flags.features,
        k: positiveInteger(flags.k, "--k"),
        nouns: flags.nouns,
        generalWords:
          flags.generalWords === undefined
            ? undefined
            : numberInRange(flags.generalWords, "--general-words", 0, 1),
        classNouns: flags.classNouns,
        init: flags.init,
        strict: flags.strict,
        allowOutsidePaths: flags.allowOutsidePaths,
        ...controls,
      });
      controls.finish(summary);
    });
}
