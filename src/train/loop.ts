/**
 * The training loop S-Seg (`sseg train`) and S-Seg+ (`sseg selftrain train`) share, one visible function with
 * labelled phases (nanoGPT's shape): learning rate and dropout draws, gradients summed over micro-batches,
 * clipped AdamW update (skipped with the culprits named on a NaN/Inf, the run stopped after too many in a row),
 * then validation, log.jsonl, atomic checkpoints (the best kept by validation score) and the loss curve.
 * `resume` continues exactly — same weights, optimizer moments, data position and dropout draws as an
 * uninterrupted run — so a long run can be done as several `maxMinutes` pieces. What is trained is a `TrainingTask`.
 */
import { createHash } from "node:crypto";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { variableGrads } from "../engine/gradients.js";
import { writeFileAtomic } from "../io/atomic.js";
import { Dropout, DropPath } from "../nn/dropout.js";
import type { Module } from "../nn/module.js";
import {
  bestScore,
  latestCheckpoint,
  markBest,
  prepareRunFolder,
  restoreTrainingCheckpoint,
  saveTrainingCheckpoint,
} from "./checkpoint.js";
import { appendLog, type LogRecord, readLog, writeLossCurve } from "./log.js";
import type { AdamW, StepResult } from "./optimizer.js";

/** One micro-batch, ready to be differentiated. */
export interface MicroBatch {
  /** Pairs (images) in it. */
  samples: number;
  /** Its loss, computed under the gradient tape: the total, named parts, and optional statistics to average. */
  loss(): { total: tf.Scalar; parts: Record<string, tf.Scalar>; stats?: Record<string, number> };
  dispose(): void;
}

/** A validation's outcome: what goes into the log and the number the best checkpoint is chosen by. */
export interface Validation<R> {
  record: R;
  score: number;
}

/** What the loop trains: the model, its optimiser and data, and how to score it. */
export interface TrainingTask<R = unknown> {
  readonly model: Module;
  readonly optimizer: AdamW;
  /** The configuration and settings saved with every checkpoint and in config.json. */
  readonly settings: { config: unknown; options: Record<string, unknown> };
  /** Learning rate of the 0-based step. */
  learningRate(step: number): number;
  /** A fresh run's starting weights (e.g. a pretrained backbone); not called when resuming. */
  initialize(): Promise<void>;
  /** Open the data stream, fast-forwarded past `samplesSeen` samples. */
  openData(samplesSeen: number): Promise<void>;
  nextBatch(): Promise<MicroBatch>;
  /** Score the model (it is in training mode before and must be after). */
  validate?(): Promise<Validation<R>>;
  /** Extra fields of a step's log record, after the update (e.g. per-module gradient norms). */
  logFields?(update: StepResult): Record<string, unknown>;
  /** The loss-curve title. */
  readonly title: string;
  /** "N samples skipped: …" of the data, for the summary. */
  skippedSamples(): string;
  dispose(): Promise<void>;
}

export interface LoopOptions {
  /** Run folder. */
  out: string;
  steps: number;
  /** Micro-batches per optimiser step. */
  accumulate: number;
  clipGradNorm: number;
  seed: number;
  logEvery: number;
  checkpointEvery: number;
  /** Stop after this many non-finite steps in a row. */
  maxBadSteps: number;
  resume: boolean;
  overwrite: boolean;
  /** Stop cleanly (with a checkpoint) before this many minutes have passed. */
  maxMinutes?: number;
  /** Steps between validations (when the task validates). */
  valEvery: number;
  /** Called after every step (the CLI's progress line). */
  onStep?: (step: number, record: LogRecord) => void;
  /** Called once after the first steps of this run, with their time per step and the steps left. */
  onEstimate?: (secondsPerStep: number, stepsLeft: number) => void;
  /** Polled between steps: true stops the run after saving a checkpoint (Ctrl-C). */
  shouldStop?: () => boolean;
}

/** The run settings every training command has, on top of the loop's own: batch, schedule, crops, validation. */
export interface RunOptions extends LoopOptions {
  batchSize: number;
  /** Peak learning rate (default: the configuration's). */
  lr?: number;
  /** Linear warm-up steps (default: the configuration's). */
  warmupSteps?: number;
  /** RandomResizedCrop area range. */
  scale: [number, number];
  /** mmseg's photometric distortion on every training crop (`src/data/photometric.ts`). */
  photometric?: boolean;
  /** A segmentation set (VOC layout) scored every `valEvery` steps and at the end; the best step is kept. */
  val?: string;
  /** Score only the first n validation images. */
  valLimit?: number;
}

/** Defaults both training commands share. */
export const DEFAULT_RUN_OPTIONS = {
  accumulate: 1,
  clipGradNorm: 1.0,
  seed: 0,
  logEvery: 1,
  checkpointEvery: 250,
  maxBadSteps: 5,
  valEvery: 250,
  resume: false,
  overwrite: false,
};

export interface LoopSummary<R> {
  steps: number;
  samplesSeen: number;
  /** Why the loop ended: all steps done, stopped by the caller (Ctrl-C), or out of --max-minutes. */
  stopReason: "done" | "interrupted" | "time";
  lastLosses: Record<string, number>;
  /** The last validation, when the task validates. */
  lastValidation?: R;
  seconds: number;
  samplesPerSecond: number;
  peakRssMb: number;
  skippedSamples: string;
}

/** The run's time per step is estimated from its first steps (start-up costs aside). */
const ESTIMATE_AFTER_STEPS = 5;

function stepSeed(seed: number, step: number, index: number): number {
  return createHash("sha256").update(`dropout/${seed}/${step}/${index}`).digest().readUInt32LE(0);
}

/**
 * Settings a resumed piece may give anew: where and when it stops (a larger `steps` extends the run, its schedule
 * stretched from there), saves, logs and validates, and what only a fresh start reads (the weights to start from).
 * Every other setting shapes the trajectory, so it must be the run's.
 */
const PER_PIECE = new Set([
  "out",
  "steps",
  "resume",
  "overwrite",
  "maxMinutes",
  "val",
  "valEvery",
  "valLimit",
  "checkpointEvery",
  "logEvery",
  "maxBadSteps",
  "strict",
  "init",
  "pretrained",
]);

/** A resumed piece continues exactly only with the run's own settings: name each one that differs. */
export function checkSameRun(
  out: string,
  saved: { config: unknown; options: Record<string, unknown> },
  now: { config: unknown; options: Record<string, unknown> },
): void {
  // as config.json stores it: a callback option (selftrain's `finish`) was never saved, so it reads as unset
  const shown = (value: unknown) => JSON.stringify(value) ?? "unset";
  const keys = new Set([...Object.keys(saved.options), ...Object.keys(now.options)]);
  const differ = [...keys]
    .filter((key) => !PER_PIECE.has(key) && shown(saved.options[key]) !== shown(now.options[key]))
    .map((key) => `${key} ${shown(saved.options[key])} in the run, ${shown(now.options[key])} now`);
  const [was, is] = [saved.config, now.config] as Record<string, unknown>[];
  const sections = new Set([...Object.keys(was ?? {}), ...Object.keys(is ?? {})]);
  const changed = [...sections].filter((key) => shown(was?.[key]) !== shown(is?.[key]));
  if (changed.length > 0) differ.unshift(`configuration ${changed.join(", ")}`);
  if (differ.length > 0)
    throw new Error(
      `--resume ${out}: not the run's settings (${differ.join("; ")}); resume with its own (config.json), or start a new run from its weights with --init`,
    );
}

/** Train (or resume) the task's run in `options.out`; returns when the steps are done, stopped, or out of time. */
export async function runTrainingLoop<R>(
  task: TrainingTask<R>,
  options: LoopOptions,
): Promise<LoopSummary<R>> {
  await prepareRunFolder(options.out, options);
  const started = performance.now();
  const deadline =
    options.maxMinutes === undefined ? Number.POSITIVE_INFINITY : started + options.maxMinutes * 60_000;
  const { model, optimizer } = task;

  // ---- the state to continue from ----
  let step = 0;
  let samplesSeen = 0;
  const resumeFrom = options.resume ? await latestCheckpoint(options.out) : undefined;
  if (resumeFrom) {
    const state = await restoreTrainingCheckpoint(resumeFrom, model, optimizer);
    checkSameRun(options.out, state, task.settings);
    ({ step, samplesSeen } = state);
  } else await task.initialize();
  let lastSaveMs = 0;
  const save = async (): Promise<string> => {
    const saveStarted = performance.now();
    const dir = await saveTrainingCheckpoint(options.out, model, optimizer, {
      step,
      samplesSeen,
      ...task.settings,
    });
    lastSaveMs = performance.now() - saveStarted;
    return dir;
  };
  await writeFileAtomic(join(options.out, "config.json"), `${JSON.stringify(task.settings, null, 2)}\n`);
  await task.openData(samplesSeen);
  const dropouts = model.modules().filter((m) => m instanceof Dropout || m instanceof DropPath) as (
    | Dropout
    | DropPath
  )[];
  const logPath = join(options.out, "log.jsonl");
  const log = await readLog(logPath, step + 1);
  await writeFileAtomic(logPath, log.map((r) => `${JSON.stringify(r)}\n`).join(""));
  let best = (await bestScore(options.out))?.score ?? Number.NEGATIVE_INFINITY;
  const drawCurves = async () =>
    writeLossCurve(join(options.out, "loss.png"), await readLog(logPath), task.title);

  // ---- the loop ----
  const firstStep = step;
  const startSamples = samplesSeen;
  const stepMs: number[] = [];
  let lastValMs = 0;
  let badInARow = 0;
  let stopReason: LoopSummary<R>["stopReason"] = "done";
  let peakRss = 0;
  let lastLosses: Record<string, number> = {};
  let lastValidation: R | undefined;
  let pending: LogRecord[] = [];
  model.train();
  while (step < options.steps) {
    if (options.shouldStop?.()) {
      stopReason = "interrupted";
      break;
    }
    // phase 0: stop while the next step, a validation due with it and the final checkpoint still fit in the time
    const nextStepMs = stepMs.length > 0 ? Math.max(...stepMs) : 0;
    const valDue = task.validate !== undefined && (step + 1) % options.valEvery === 0;
    if (performance.now() + nextStepMs + (valDue ? lastValMs : 0) + 2 * lastSaveMs > deadline) {
      stopReason = "time";
      break;
    }
    const stepStarted = performance.now();
    // phase 1: learning rate and this step's dropout draws
    optimizer.learningRate = task.learningRate(step);
    for (const [i, dropout] of dropouts.entries()) dropout.reseed(stepSeed(options.seed, step, i));

    // phase 2: gradients summed over the micro-batches
    const sums: Record<string, number> = {};
    const stats: Record<string, number> = {};
    let gradients: tf.NamedTensorMap | null = null;
    for (let micro = 0; micro < options.accumulate; micro++) {
      const batch = await task.nextBatch();
      samplesSeen += batch.samples;
      const parts: Record<string, number> = {};
      const { value, grads } = variableGrads(
        () => {
          const loss = batch.loss();
          for (const [name, value] of Object.entries(loss.parts)) parts[name] = value.dataSync()[0];
          for (const [name, value] of Object.entries(loss.stats ?? {}))
            stats[name] = (stats[name] ?? 0) + value / options.accumulate;
          return loss.total.div(options.accumulate) as tf.Scalar;
        },
        optimizer.parameters(), // not the model's: a frozen part gets no gradient
      );
      value.dispose();
      batch.dispose();
      for (const [name, value] of Object.entries(parts))
        sums[name] = (sums[name] ?? 0) + value / options.accumulate;
      if (gradients === null) gradients = grads;
      else {
        const previous: tf.NamedTensorMap = gradients;
        gradients = Object.fromEntries(Object.entries(grads).map(([k, g]) => [k, tf.add(previous[k], g)]));
        tf.dispose([...Object.values(previous), ...Object.values(grads)]);
      }
    }

    // phase 3: the update (skipped, with the culprits named, on a non-finite loss or gradient)
    const grads = gradients as tf.NamedTensorMap;
    const update: StepResult = Object.values(sums).every(Number.isFinite)
      ? optimizer.step(grads, { clipGradNorm: options.clipGradNorm })
      : { gradNorm: Number.NaN, squaredNorms: {}, skipped: true, nonFinite: ["loss"] };
    tf.dispose(Object.values(grads));
    badInARow = update.skipped ? badInARow + 1 : 0;
    if (update.skipped)
      console.warn(`step ${step + 1}: non-finite ${update.nonFinite.slice(0, 5).join(", ")}; update skipped`);
    step++;
    stepMs.push(performance.now() - stepStarted);
    if (step - firstStep === ESTIMATE_AFTER_STEPS) {
      const secondsPerStep = stepMs.reduce((a, b) => a + b, 0) / stepMs.length / 1000;
      options.onEstimate?.(secondsPerStep, options.steps - step);
    }
    if (stepMs.length > ESTIMATE_AFTER_STEPS) stepMs.shift(); // phase 0 needs only the latest few

    // phase 4: validate, log, checkpoint (and keep the best one)
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
    lastLosses = sums;
    const record: LogRecord = {
      step,
      losses: sums,
      lr: optimizer.learningRate,
      gradNorm: update.gradNorm,
      ...task.logFields?.(update),
      ...(Object.keys(stats).length > 0 ? { naming: stats } : {}),
      samplesSeen,
      skipped: update.skipped,
      seconds: (performance.now() - started) / 1000,
    };
    const validating =
      task.validate !== undefined && (step % options.valEvery === 0 || step === options.steps);
    let improved = false;
    if (validating && task.validate) {
      const valStarted = performance.now();
      const validation = await task.validate();
      lastValMs = performance.now() - valStarted;
      lastValidation = validation.record;
      record.val = validation.record;
      improved = validation.score > best;
      if (improved) best = validation.score;
    }
    pending.push(record);
    options.onStep?.(step, record);
    if (step % options.logEvery === 0 || step === options.steps || validating) {
      await appendLog(logPath, pending);
      pending = [];
    }
    if (badInARow >= options.maxBadSteps) {
      await appendLog(logPath, pending);
      throw new Error(
        `stopped: ${badInARow} non-finite steps in a row (last at step ${step}); lower --lr or check the data`,
      );
    }
    if (step % options.checkpointEvery === 0 || step === options.steps || improved) {
      const dir = await save();
      if (improved) await markBest(options.out, dir, { step, score: best });
      await drawCurves();
    }
  }
  await appendLog(logPath, pending);
  if (stopReason !== "done") {
    await save();
    await drawCurves();
  }
  const seconds = (performance.now() - started) / 1000;
  const skippedSamples = task.skippedSamples();
  await task.dispose();
  return {
    steps: step,
    samplesSeen,
    stopReason,
    lastLosses,
    lastValidation,
    seconds,
    samplesPerSecond: (samplesSeen - startSamples) / seconds,
    peakRssMb: peakRss / 2 ** 20,
    skippedSamples,
  };
}
