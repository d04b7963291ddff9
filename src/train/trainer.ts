/**
 * `sseg train`: the S-Seg training loop, one visible function with labelled phases (nanoGPT's shape).
 * Data: image–caption pairs → augmented crops + caption tokens + cached pseudo-masks (batches.ts).
 * Step: AdamW (no decay on norms, biases, embeddings), cosine schedule with warm-up, gradient accumulation,
 * global-norm clipping, NaN/Inf steps skipped (and the run stopped after too many in a row).
 * Output in the run folder: log.jsonl, loss.png, checkpoints/ (atomic), config.json. `resume` continues
 * exactly: same weights, optimizer moments, data position and dropout draws as an uninterrupted run.
 */
import { createHash } from "node:crypto";
import { mkdir } from "node:fs/promises";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { openPairSource, summarizeSkipped } from "../data/pairs.js";
import { writeFileAtomic } from "../io/atomic.js";
import type { TensorToWrite } from "../io/safetensors.js";
import { CONFIGS, type SSegConfig, SSegModel } from "../model/sseg.js";
import { Dropout, DropPath } from "../nn/dropout.js";
import { MaskCache, openFeatureSource } from "../pseudo/index.js";
import { ClipTokenizer } from "../text/tokenizer.js";
import { type TrainingBatch, trainingBatches } from "./batches.js";
import { latestCheckpoint, loadCheckpoint, saveCheckpoint } from "./checkpoint.js";
import { SetCriterion } from "./criterion.js";
import { appendLog, type LogRecord, readLog, writeLossCurve } from "./log.js";
import { HungarianMatcher } from "./matcher.js";
import { batchTensors, sSegLoss } from "./objective.js";
import { AdamW, type AdamWState, cosineWithWarmup, weightDecayGroups } from "./optimizer.js";

export interface TrainOptions {
  /** Model configuration: a name (`tiny`, `paper`) or the configuration itself. */
  config: string | SSegConfig;
  /** Pair source: shards (`train/{00000..00019}.tar`), a captions .jsonl/.csv or its folder. */
  data: string;
  /** Run folder. */
  out: string;
  steps: number;
  batchSize: number;
  /** Micro-batches per optimiser step (effective batch = batchSize · accumulate). */
  accumulate: number;
  lr: number;
  minLr: number;
  warmupSteps: number;
  weightDecay: number;
  clipGradNorm: number;
  /** Pseudo-mask feature source and K. */
  features: string;
  k: number;
  /** RandomResizedCrop area range. */
  scale: [number, number];
  seed: number;
  logEvery: number;
  checkpointEvery: number;
  /** Stop after this many non-finite steps in a row. */
  maxBadSteps: number;
  resume: boolean;
  /** Called after every step (the CLI's progress line). */
  onStep?: (step: number, record: LogRecord) => void;
  /** Polled between steps: true stops the run after saving a checkpoint (Ctrl-C). */
  shouldStop?: () => boolean;
}

/** Defaults for the tiny model on the composites (documented in docs/training.md). */
export const DEFAULT_TRAIN_OPTIONS = {
  config: "tiny",
  steps: 3000,
  batchSize: 32,
  accumulate: 1,
  lr: 1e-3,
  minLr: 1e-5,
  warmupSteps: 100,
  weightDecay: 0.05,
  clipGradNorm: 1.0,
  features: "auto",
  k: 8,
  scale: [0.5, 1] as [number, number],
  seed: 0,
  logEvery: 1,
  checkpointEvery: 250,
  maxBadSteps: 5,
  resume: false,
};

/** What a checkpoint's state.json holds besides the step. */
interface RunState {
  step: number;
  samplesSeen: number;
  config: SSegConfig;
  options: Omit<TrainOptions, "onStep" | "shouldStop">;
  optimizer: { steps: Record<string, number> };
}

export interface TrainSummary {
  steps: number;
  samplesSeen: number;
  stoppedEarly: boolean;
  lastLosses: Record<string, number>;
  seconds: number;
  samplesPerSecond: number;
  peakRssMb: number;
  skippedSamples: string;
}

function stepSeed(seed: number, step: number, index: number): number {
  return createHash("sha256").update(`dropout/${seed}/${step}/${index}`).digest().readUInt32LE(0);
}

function modelTensors(model: SSegModel): Record<string, TensorToWrite> {
  const out: Record<string, TensorToWrite> = {};
  for (const [name, v] of model.stateDict())
    out[name] = { shape: v.shape, data: v.dataSync() as Float32Array };
  return out;
}

function optimizerTensors(state: AdamWState): {
  tensors: Record<string, TensorToWrite>;
  steps: Record<string, number>;
} {
  const tensors: Record<string, TensorToWrite> = {};
  const steps: Record<string, number> = {};
  for (const [name, p] of Object.entries(state.params)) {
    steps[name] = p.step;
    tensors[`exp_avg.${name}`] = { shape: [p.expAvg.length], data: p.expAvg };
    tensors[`exp_avg_sq.${name}`] = { shape: [p.expAvgSq.length], data: p.expAvgSq };
  }
  return { tensors, steps };
}

/** Train (or resume) a run; returns when `steps` are done or the run is stopped. */
export async function train(options: TrainOptions): Promise<TrainSummary> {
  const config = typeof options.config === "string" ? CONFIGS[options.config] : options.config;
  if (!config)
    throw new Error(
      `--config: unknown configuration "${options.config}"; expected ${Object.keys(CONFIGS).join(" | ")}`,
    );
  await mkdir(options.out, { recursive: true });

  // ---- model, optimiser, and the state to continue from ----
  const model = new SSegModel(config, { seed: options.seed });
  const named = model.namedParameters();
  const optimizer = new AdamW(weightDecayGroups(named, options.weightDecay), { learningRate: options.lr });
  let step = 0;
  let samplesSeen = 0;
  const resumeFrom = options.resume ? await latestCheckpoint(options.out) : undefined;
  if (options.resume && !resumeFrom)
    throw new Error(`--resume: ${options.out} has no checkpoint to resume from`);
  if (resumeFrom) {
    const checkpoint = await loadCheckpoint<RunState>(resumeFrom);
    model.loadStateDict(checkpoint.model);
    const moment = (key: string) => {
      const tensor = checkpoint.optimizer.get(key);
      if (!tensor) throw new Error(`${resumeFrom}: optimizer.safetensors lacks "${key}"`);
      return Float32Array.from(tensor.data);
    };
    optimizer.importState({
      params: Object.fromEntries(
        Object.entries(checkpoint.state.optimizer.steps).map(([name, stepCount]) => [
          name,
          { step: stepCount, expAvg: moment(`exp_avg.${name}`), expAvgSq: moment(`exp_avg_sq.${name}`) },
        ]),
      ),
    });
    step = checkpoint.state.step;
    samplesSeen = checkpoint.state.samplesSeen;
  }
  const save = async () => {
    const { tensors, steps } = optimizerTensors(optimizer.exportState());
    const { onStep: _onStep, shouldStop: _shouldStop, ...settings } = options;
    await saveCheckpoint<Omit<RunState, "step">>(options.out, {
      model: modelTensors(model),
      optimizer: tensors,
      state: { step, samplesSeen, config, options: settings, optimizer: { steps } },
    });
  };
  await writeFileAtomic(
    join(options.out, "config.json"),
    `${JSON.stringify({ config, options }, null, 2)}\n`,
  );

  // ---- data: the same stream from the seed, fast-forwarded past what was already trained on ----
  const pairs = await openPairSource(options.data, {
    epochs: Number.POSITIVE_INFINITY,
    seed: options.seed,
    shuffleShards: true,
    shuffleBuffer: 1000,
  });
  const features = await openFeatureSource(options.features, { seed: options.seed });
  const batches = trainingBatches(
    pairs,
    await ClipTokenizer.load(),
    {
      batchSize: options.batchSize,
      size: config.imageSize,
      maskStride: 4,
      scale: options.scale,
      features,
      k: options.k,
      cache: new MaskCache(join(options.out, "mask-cache")),
      seed: options.seed,
    },
    samplesSeen,
  );
  const criterion = new SetCriterion(new HungarianMatcher());
  const dropouts = model.modules().filter((m) => m instanceof Dropout || m instanceof DropPath) as (
    | Dropout
    | DropPath
  )[];
  const log = await readLog(join(options.out, "log.jsonl"), step + 1);
  await writeFileAtomic(join(options.out, "log.jsonl"), log.map((r) => `${JSON.stringify(r)}\n`).join(""));

  // ---- the loop ----
  const started = performance.now();
  const startSamples = samplesSeen;
  let badInARow = 0;
  let stoppedEarly = false;
  let peakRss = 0;
  let lastLosses: Record<string, number> = {};
  let pending: LogRecord[] = [];
  model.train();
  while (step < options.steps) {
    if (options.shouldStop?.()) {
      stoppedEarly = true;
      break;
    }
    // phase 1: learning rate and this step's dropout draws
    optimizer.learningRate = cosineWithWarmup(step, {
      baseLr: options.lr,
      minLr: options.minLr,
      warmupSteps: options.warmupSteps,
      totalSteps: options.steps,
    });
    for (const [i, dropout] of dropouts.entries()) dropout.reseed(stepSeed(options.seed, step, i));

    // phase 2: gradients summed over the micro-batches
    const sums: Record<string, number> = {};
    let gradients: tf.NamedTensorMap | null = null;
    for (let micro = 0; micro < options.accumulate; micro++) {
      const next = await batches.next();
      if (next.done) throw new Error(`${options.data}: the data stream ended (is it empty?)`);
      const batch: TrainingBatch = next.value;
      samplesSeen += batch.keys.length;
      const inputs = batchTensors(batch);
      const parts: Record<string, number> = {};
      const { value, grads } = tf.variableGrads(
        () => {
          const loss = sSegLoss(model, criterion, inputs);
          for (const [name, value] of Object.entries(loss.parts)) parts[name] = value.dataSync()[0];
          return loss.total.div(options.accumulate) as tf.Scalar;
        },
        named.map(([, v]) => v),
      );
      tf.dispose([value, inputs.images, inputs.tokens, ...inputs.targets]);
      for (const [name, value] of Object.entries(parts))
        sums[name] = (sums[name] ?? 0) + value / options.accumulate;
      if (gradients === null) gradients = grads;
      else {
        const previous: tf.NamedTensorMap = gradients;
        gradients = Object.fromEntries(Object.entries(grads).map(([k, g]) => [k, tf.add(previous[k], g)]));
        tf.dispose([...Object.values(previous), ...Object.values(grads)]);
      }
    }

    // phase 3: guard, clip, update
    const grads = gradients as tf.NamedTensorMap;
    const gradNorm = tf.tidy(() =>
      Math.sqrt(Object.values(grads).reduce((s, g) => s + g.square().sum().dataSync()[0], 0)),
    );
    const finite = Number.isFinite(gradNorm) && Object.values(sums).every(Number.isFinite);
    if (finite) {
      const clip = gradNorm > options.clipGradNorm ? options.clipGradNorm / (gradNorm + 1e-6) : 1;
      const scaled =
        clip === 1
          ? grads
          : tf.tidy(() => Object.fromEntries(Object.entries(grads).map(([k, g]) => [k, g.mul(clip)])));
      optimizer.applyGradients(scaled);
      if (scaled !== grads) tf.dispose(Object.values(scaled));
      badInARow = 0;
    } else {
      badInARow++;
      console.warn(`step ${step + 1}: non-finite loss or gradient (${JSON.stringify(sums)}); update skipped`);
    }
    tf.dispose(Object.values(grads));
    step++;

    // phase 4: log, checkpoint
    peakRss = Math.max(peakRss, process.memoryUsage().rss);
    lastLosses = sums;
    const record: LogRecord = {
      step,
      losses: sums,
      lr: optimizer.learningRate,
      gradNorm,
      logitScale: Math.min(Math.exp(model.logitScale.theta.dataSync()[0]), 100),
      samplesSeen,
      skipped: !finite,
      seconds: (performance.now() - started) / 1000,
    };
    pending.push(record);
    options.onStep?.(step, record);
    if (step % options.logEvery === 0 || step === options.steps) {
      await appendLog(join(options.out, "log.jsonl"), pending);
      pending = [];
    }
    if (badInARow >= options.maxBadSteps) {
      await appendLog(join(options.out, "log.jsonl"), pending);
      throw new Error(
        `stopped: ${badInARow} non-finite steps in a row (last at step ${step}); lower --lr or check the data`,
      );
    }
    if (step % options.checkpointEvery === 0 || step === options.steps) {
      await save();
      await writeLossCurve(
        join(options.out, "loss.png"),
        await readLog(join(options.out, "log.jsonl")),
        `${config.name} · ${options.data}`,
      );
    }
  }
  await appendLog(join(options.out, "log.jsonl"), pending);
  if (stoppedEarly) await save();
  await writeLossCurve(
    join(options.out, "loss.png"),
    await readLog(join(options.out, "log.jsonl")),
    `${config.name} · ${options.data}`,
  );
  const seconds = (performance.now() - started) / 1000;
  await batches.return(undefined);
  features.dispose();
  model.dispose();
  return {
    steps: step,
    samplesSeen,
    stoppedEarly,
    lastLosses,
    seconds,
    samplesPerSecond: (samplesSeen - startSamples) / seconds,
    peakRssMb: peakRss / 2 ** 20,
    skippedSamples: summarizeSkipped(pairs.skipped),
  };
}
