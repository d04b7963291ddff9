/**
 * What `sseg train` and `sseg selftrain train` share around the training loop: their run flags, Ctrl-C / SIGTERM stop after the step
 * with a checkpoint (a second signal quits), the time estimate after the first steps, the progress line with the
 * losses and validations, and the closing summary line.
 */
import type { Command } from "commander";
import type { LogRecord } from "../train/log.js";
import type { LoopSummary, RunOptions } from "../train/loop.js";
import { nonNegativeInteger, positiveInteger, positiveNumber } from "./flags.js";
import { formatDuration, Progress } from "./progress.js";

const STOPPED = { done: "finished", interrupted: "stopped (interrupted)", time: "stopped (--max-minutes)" };

export interface RunControls {
  onEstimate: (secondsPerStep: number, stepsLeft: number) => void;
  shouldStop: () => boolean;
  onStep: (step: number, record: LogRecord) => void;
  /** Remove the signal handlers and print the summary line. */
  finish: (summary: LoopSummary<unknown>) => void;
}

/** `describeValidation` turns a logged validation into the line printed when it happens. */
export function runControls(
  label: string,
  steps: number,
  maxMinutes: string | undefined,
  describeValidation: (validation: unknown) => string,
): RunControls {
  let progress: Progress | undefined;
  let interrupted = false;
  const onSignal = (signal: NodeJS.Signals) => {
    if (interrupted) process.exit(signal === "SIGTERM" ? 143 : 130);
    interrupted = true;
    console.error(
      `\n${signal}: stopping after this step and saving a checkpoint (send it again to quit at once)`,
    );
  };
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  return {
    onEstimate: (secondsPerStep, stepsLeft) => {
      const seconds = secondsPerStep * stepsLeft;
      const ends = new Date(Date.now() + seconds * 1000).toTimeString().slice(0, 5);
      const cut = maxMinutes ? `; this run stops at a checkpoint before ${maxMinutes} min` : "";
      console.error(
        `\n${secondsPerStep.toFixed(2)} s/step over the first steps: the ${stepsLeft} steps left take about ${formatDuration(seconds)} (until ~${ends})${cut}`,
      );
    },
    shouldStop: () => interrupted,
    onStep: (step, record) => {
      // created at the first step, whose time (start-up, first-call costs) would skew the rate
      progress ??= new Progress(label, steps, "steps", step);
      const parts = Object.entries(record.losses)
        .map(([name, value]) => `${name} ${value.toFixed(3)}`)
        .join(" ");
      if (record.val) console.error(`\nstep ${step} validation: ${describeValidation(record.val)}`);
      progress.update(step, parts);
    },
    finish: (summary) => {
      process.off("SIGINT", onSignal);
      process.off("SIGTERM", onSignal);
      console.log(
        `${STOPPED[summary.stopReason]} at step ${summary.steps}: ${summary.samplesPerSecond.toFixed(1)} samples/s, peak RSS ${summary.peakRssMb.toFixed(0)} MB, ${summary.seconds.toFixed(0)} s; ${summary.skippedSamples || "no samples skipped"}`,
      );
    },
  };
}

export const percent = (x: number) => (100 * x).toFixed(1);

/** The run flags both training commands take, as given on the command line. */
export interface RunFlags {
  out: string;
  steps: string;
  batchSize: string;
  accumulate: string;
  lr?: string;
  warmup?: string;
  seed: string;
  checkpointEvery: string;
  maxMinutes?: string;
  val?: string;
  valEvery: string;
  valLimit?: string;
  resume: boolean;
  overwrite: boolean;
  photometric?: boolean;
}

/** Register the run flags with their defaults; `lrHelp` and `warmupHelp` say where the defaults come from. */
export function addRunOptions(
  command: Command,
  defaults: {
    out: string;
    steps: number;
    batchSize: number;
    accumulate: number;
    seed: number;
    checkpointEvery: number;
    valEvery: number;
  },
  help: { lr: string; warmup: string; batch: string },
): Command {
  return command
    .option("-o, --out <dir>", "run folder (log.jsonl, loss.png, checkpoints/)", defaults.out)
    .option("--steps <n>", "optimiser steps", String(defaults.steps))
    .option("--batch-size <n>", help.batch, String(defaults.batchSize))
    .option("--accumulate <n>", "micro-batches per step (gradient accumulation)", String(defaults.accumulate))
    .option("--lr <x>", help.lr)
    .option("--warmup <n>", help.warmup)
    .option("--seed <n>", "seed of weights, data order, augmentation and dropout", String(defaults.seed))
    .option("--checkpoint-every <n>", "steps between checkpoints", String(defaults.checkpointEvery))
    .option("--max-minutes <m>", "stop cleanly at a checkpoint before m minutes (resume later with --resume)")
    .option("--val <dir>", "validation set (VOC layout + classes.txt) scored during training; best kept")
    .option("--val-every <n>", "steps between validations", String(defaults.valEvery))
    .option("--val-limit <n>", "score only the first n validation images")
    .option(
      "--photometric",
      "mmseg's photometric distortion (brightness, contrast, saturation, hue) on every crop",
    )
    .option("--resume", "continue the run in --out from its latest checkpoint, exactly", false)
    .option(
      "--overwrite",
      "start over in an --out that holds a run (removes its log and checkpoints)",
      false,
    );
}

/** The run flags checked (each bad value a usage error naming its flag). */
export function runOptionsFrom(
  flags: RunFlags,
): Pick<
  RunOptions,
  | "out"
  | "steps"
  | "batchSize"
  | "accumulate"
  | "lr"
  | "warmupSteps"
  | "seed"
  | "checkpointEvery"
  | "maxMinutes"
  | "val"
  | "valEvery"
  | "valLimit"
  | "resume"
  | "overwrite"
  | "photometric"
> {
  return {
    out: flags.out,
    steps: positiveInteger(flags.steps, "--steps"),
    batchSize: positiveInteger(flags.batchSize, "--batch-size"),
    accumulate: positiveInteger(flags.accumulate, "--accumulate"),
    lr: flags.lr === undefined ? undefined : positiveNumber(flags.lr, "--lr"),
    warmupSteps: flags.warmup === undefined ? undefined : nonNegativeInteger(flags.warmup, "--warmup"),
    seed: nonNegativeInteger(flags.seed, "--seed"),
    checkpointEvery: positiveInteger(flags.checkpointEvery, "--checkpoint-every"),
    maxMinutes:
      flags.maxMinutes === undefined ? undefined : positiveNumber(flags.maxMinutes, "--max-minutes"),
    val: flags.val,
    valEvery: positiveInteger(flags.valEvery, "--val-every"),
    valLimit: flags.valLimit === undefined ? undefined : positiveInteger(flags.valLimit, "--val-limit"),
    resume: flags.resume,
    overwrite: flags.overwrite,
    photometric: flags.photometric,
  };
}
