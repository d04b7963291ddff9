import type { Command } from "commander";
import { initEngine } from "../engine/backend.js";
import { CONFIGS } from "../model/sseg.js";
import { DEFAULT_TRAIN_OPTIONS, train } from "../train/trainer.js";
import { positiveInteger, positiveNumber } from "./flags.js";
import { Progress } from "./progress.js";

interface TrainFlags {
  config: string;
  data: string;
  out: string;
  steps: string;
  batchSize: string;
  accumulate: string;
  lr: string;
  warmup: string;
  features: string;
  k: string;
  seed: string;
  checkpointEvery: string;
  resume: boolean;
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
    .option("--config <name>", `model configuration: ${Object.keys(CONFIGS).join(" | ")}`, d.config)
    .option("-o, --out <dir>", "run folder (log.jsonl, loss.png, checkpoints/)", "runs/tiny")
    .option("--steps <n>", "optimiser steps", String(d.steps))
    .option("--batch-size <n>", "pairs per micro-batch", String(d.batchSize))
    .option("--accumulate <n>", "micro-batches per step (gradient accumulation)", String(d.accumulate))
    .option("--lr <x>", "peak learning rate (AdamW, cosine schedule)", String(d.lr))
    .option("--warmup <n>", "linear warm-up steps", String(d.warmupSteps))
    .option("-f, --features <source>", "pseudo-mask features (see sseg pseudo --help)", d.features)
    .option("-k, --k <n>", "pseudo-masks per image", String(d.k))
    .option("--seed <n>", "seed of weights, data order, augmentation and dropout", String(d.seed))
    .option("--checkpoint-every <n>", "steps between checkpoints", String(d.checkpointEvery))
    .option("--resume", "continue the run in --out from its latest checkpoint, exactly", false)
    .action(async (flags: TrainFlags) => {
      const engine = await initEngine();
      const steps = positiveInteger(flags.steps, "--steps");
      const batchSize = positiveInteger(flags.batchSize, "--batch-size");
      const accumulate = positiveInteger(flags.accumulate, "--accumulate");
      let progress: Progress | undefined;
      let interrupted = false;
      const onSignal = () => {
        if (interrupted) process.exit(130);
        interrupted = true;
        console.error("\nstopping after this step and saving a checkpoint (Ctrl-C again to quit at once)");
      };
      process.on("SIGINT", onSignal);
      console.log(`sseg train · ${flags.config} · ${flags.data} → ${flags.out} · backend ${engine.backend}`);
      const summary = await train({
        ...d,
        config: flags.config,
        data: flags.data,
        out: flags.out,
        steps,
        batchSize,
        accumulate,
        lr: positiveNumber(flags.lr, "--lr"),
        warmupSteps: Number(flags.warmup),
        features: flags.features,
        k: positiveInteger(flags.k, "--k"),
        seed: Number(flags.seed),
        checkpointEvery: positiveInteger(flags.checkpointEvery, "--checkpoint-every"),
        resume: flags.resume,
        shouldStop: () => interrupted,
        onStep: (step, record) => {
          // created at the first step, whose time (start-up, first-call costs) would skew the rate
          progress ??= new Progress("train", steps, "steps", step);
          const parts = Object.entries(record.losses)
            .map(([name, value]) => `${name} ${value.toFixed(3)}`)
            .join(" ");
          progress.update(step, parts);
        },
      });
      process.off("SIGINT", onSignal);
      console.log(
        `${summary.stoppedEarly ? "stopped" : "finished"} at step ${summary.steps}: ${summary.samplesPerSecond.toFixed(1)} samples/s, peak RSS ${summary.peakRssMb.toFixed(0)} MB, ${summary.seconds.toFixed(0)} s; ${summary.skippedSamples || "no samples skipped"}`,
      );
    });
}
