/**
 * `sseg train`: the S-Seg training loop, one visible function with labelled phases (nanoGPT's shape).
 * Data: image–caption pairs → augmented crops + caption tokens + cached pseudo-masks (batches.ts).
 * Step: AdamW (no decay on norms, biases, embeddings), cosine schedule with warm-up, gradient accumulation,
 * global-norm clipping, NaN/Inf steps skipped (and the run stopped after too many in a row).
 * Output in the run folder: log.jsonl, loss.png, checkpoints/ (atomic; `best` by validation mIoU), config.json.
 * `resume` continues exactly: same weights, optimizer moments, data position and dropout draws as an
 * uninterrupted run, so a long run can be done as several `maxMinutes` pieces.
 */
import { createHash } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { catalogImpliedNouns, catalogNouns, debianCatalog } from "../data/composites/catalog.js";
import { NounLexicon } from "../data/nouns.js";
import { openPairSource, summarizeSkipped } from "../data/pairs.js";
import { variableGrads } from "../engine/gradients.js";
import { evaluate } from "../eval/evaluate.js";
import { Segmenter } from "../infer/segmenter.js";
import { writeFileAtomic } from "../io/atomic.js";
import { PRETRAINED_MOBILENET_FILE, readTensorFile } from "../model/files.js";
import { MobileNetBackbone } from "../model/mobilenet-backbone.js";
import { CONFIGS } from "../model/presets.js";
import { type SSegConfig, SSegModel } from "../model/sseg.js";
import { Dropout, DropPath } from "../nn/dropout.js";
import { MaskCache, openFeatureSource } from "../pseudo/index.js";
import { ClipTokenizer } from "../text/tokenizer.js";
import { type TrainingBatch, trainingBatches } from "./batches.js";
import {
  bestScore,
  latestCheckpoint,
  markBest,
  prepareRunFolder,
  restoreTrainingCheckpoint,
  saveTrainingCheckpoint,
} from "./checkpoint.js";
import { SetCriterion } from "./criterion.js";
import { appendLog, type LogRecord, readLog, writeLossCurve } from "./log.js";
import { HungarianMatcher } from "./matcher.js";
import { batchTensorList, batchTensors, sSegLoss } from "./objective.js";
import { AdamW, cosineWithWarmup, weightDecayGroups } from "./optimizer.js";

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
  /** Peak learning rate (default: the configuration's `training.lr`, else DEFAULT_LR). */
  lr?: number;
  minLr: number;
  /** Linear warm-up steps (default: the configuration's `training.warmupSteps`, else DEFAULT_WARMUP_STEPS). */
  warmupSteps?: number;
  weightDecay: number;
  clipGradNorm: number;
  /** Pseudo-mask feature source and K. */
  features: string;
  k: number;
  /** RandomResizedCrop area range. */
  scale: [number, number];
  /**
   * For a model with a region head: a file of the object nouns the captions use, one per line (default: the
   * composite catalog's class words, synonyms and training stamps' nouns).
   */
  nouns?: string;
  /**
   * With the composites' lexicon: a caption's noun also names its synonyms and general words (WordNet hypernyms:
   * a sparrow is a bird and an animal), and each caption noun is replaced by a general word with this chance.
   */
  generalWords?: number;
  seed: number;
  logEvery: number;
  checkpointEvery: number;
  /** Stop after this many non-finite steps in a row. */
  maxBadSteps: number;
  /** Refuse the data at its first bad sample or index line (default: skip, count and report). */
  strict?: boolean;
  /** A caption index may name images outside its folder. */
  allowOutsidePaths?: boolean;
  /** Continue the run in `out` from its latest checkpoint. */
  resume: boolean;
  /** Start over in an `out` that holds another run (its log and checkpoints are removed; `mask-cache/` kept). */
  overwrite: boolean;
  /** Stop cleanly (with a checkpoint) before this many minutes have passed. */
  maxMinutes?: number;
  /** A segmentation set (VOC layout) scored every `valEvery` steps and at the end; the best step is kept. */
  val?: string;
  valEvery: number;
  /** Score only the first n validation images. */
  valLimit?: number;
  /** Called after every step (the CLI's progress line). */
  onStep?: (step: number, record: LogRecord) => void;
  /** Called once after the first steps of this run, with their time per step and the steps left. */
  onEstimate?: (secondsPerStep: number, stepsLeft: number) => void;
  /** Polled between steps: true stops the run after saving a checkpoint (Ctrl-C). */
  shouldStop?: () => boolean;
}

/** For a configuration without its own `training` settings. */
export const DEFAULT_LR = 1e-3;
export const DEFAULT_WARMUP_STEPS = 100;

/** Defaults for the tiny model on the composites (documented in docs/training.md). */
export const DEFAULT_TRAIN_OPTIONS = {
  config: "tiny",
  steps: 3000,
  batchSize: 32,
  accumulate: 1,
  minLr: 1e-5,
  weightDecay: 0.05,
  clipGradNorm: 1.0,
  features: "auto",
  k: 8,
  scale: [0.5, 1] as [number, number],
  seed: 0,
  logEvery: 1,
  checkpointEvery: 250,
  maxBadSteps: 5,
  valEvery: 250,
  resume: false,
  overwrite: false,
};

/** The run's time per step is estimated from its first steps (start-up costs aside). */
const ESTIMATE_AFTER_STEPS = 5;

export interface TrainSummary {
  steps: number;
  samplesSeen: number;
  /** Why the loop ended: all steps done, stopped by the caller (Ctrl-C), or out of --max-minutes. */
  stopReason: "done" | "interrupted" | "time";
  lastLosses: Record<string, number>;
  /** The last validation, when the run validates. */
  lastValidation?: ValidationRecord;
  seconds: number;
  samplesPerSecond: number;
  peakRssMb: number;
  skippedSamples: string;
}

/** A validation's numbers as logged (fractions, not percent). */
export interface ValidationRecord {
  images: number;
  /** Undefined for sets without a background class. */
  miouWithBackground?: number;
  miouWithoutBackground: number;
  maskOracleWithBackground: number;
  maskOracleWithoutBackground: number;
  /** Image-level top-1 and within-image query cosine (sets with a background class): see NamingDiagnostics. */
  imageTop1?: number;
  queryCosine?: number;
}

function stepSeed(seed: number, step: number, index: number): number {
  return createHash("sha256").update(`dropout/${seed}/${step}/${index}`).digest().readUInt32LE(0);
}

/** The model scored on a segmentation set through the segmenter, in eval mode; training mode restored after. */
async function validate(
  model: SSegModel,
  tokenizer: ClipTokenizer,
  dir: string,
  limit?: number,
): Promise<ValidationRecord> {
  model.eval();
  // borrowed: disposing the segmenter frees its text cache (stale after the next update), not the model
  const segmenter = new Segmenter(model, tokenizer, {
    description: "training",
    trained: true,
    ownsModel: false,
  });
  try {
    const result = await evaluate(segmenter, dir, { limit });
    return {
      images: result.images,
      miouWithBackground: result.withBackground?.miou,
      miouWithoutBackground: result.withoutBackground.miou,
      maskOracleWithBackground: result.maskOracle.withBackground,
      maskOracleWithoutBackground: result.maskOracle.withoutBackground,
      imageTop1: result.naming?.imageTop1,
      queryCosine: result.naming?.queryCosine,
    };
  } finally {
    segmenter.dispose();
    model.train();
  }
}

/** The caption-noun lexicon of the naming recipe: a file of nouns, one per line, or the composite catalog's. */
async function nounLexicon(file: string | undefined, generalWords: number | undefined): Promise<NounLexicon> {
  if (file === undefined) {
    const catalog = debianCatalog();
    return new NounLexicon(
      catalogNouns(catalog),
      generalWords === undefined ? {} : catalogImpliedNouns(catalog),
    );
  }
  if (generalWords !== undefined)
    throw new Error(
      "--general-words: needs the composites' noun lexicon (it has no hierarchy for a --nouns file)",
    );
  const text = await readFile(file, "utf8").catch((err: Error) => {
    throw new Error(`--nouns ${file}: ${err.message}`);
  });
  const lexicon = new NounLexicon(text.split("\n"));
  if (lexicon.size === 0) throw new Error(`--nouns ${file}: no nouns in it (one per line)`);
  return lexicon;
}

/** The model's parts whose gradient norms are logged: which part the clipped update is spent on. */
const MODULE_PREFIXES = [
  "region_head",
  "backbone",
  "sem_seg_head.pixel_decoder",
  "sem_seg_head.predictor",
  "text_encoder",
  "img_projector",
  "text_projector",
  "logit_scale",
];

/** Pre-clip gradient L2 norm per model part, from the parameters' squared norms. */
function moduleNorms(squaredNorms: Record<string, number>): Record<string, number> {
  const sums: Record<string, number> = {};
  for (const [name, value] of Object.entries(squaredNorms)) {
    const part =
      MODULE_PREFIXES.find((prefix) => name === prefix || name.startsWith(`${prefix}.`)) ?? "other";
    sums[part] = (sums[part] ?? 0) + value;
  }
  return Object.fromEntries(Object.entries(sums).map(([part, sum]) => [part, Math.sqrt(sum)]));
}

/** The number a run's best checkpoint is chosen by: mIoU with background where the set has one. */
function validationScore(record: ValidationRecord): number {
  return record.miouWithBackground ?? record.miouWithoutBackground;
}

/** Train (or resume) a run; returns when `steps` are done, the run is stopped, or its time is up. */
export async function train(options: TrainOptions): Promise<TrainSummary> {
  const config = typeof options.config === "string" ? CONFIGS[options.config] : options.config;
  if (!config)
    throw new Error(
      `--config: unknown configuration "${options.config}"; expected ${Object.keys(CONFIGS).join(" | ")}`,
    );
  const lexicon = config.regions ? await nounLexicon(options.nouns, options.generalWords) : undefined;
  const lr = options.lr ?? config.training?.lr ?? DEFAULT_LR;
  const warmupSteps = options.warmupSteps ?? config.training?.warmupSteps ?? DEFAULT_WARMUP_STEPS;
  await prepareRunFolder(options.out, options);
  const started = performance.now();
  const deadline =
    options.maxMinutes === undefined ? Number.POSITIVE_INFINITY : started + options.maxMinutes * 60_000;

  // ---- model, optimiser, and the state to continue from ----
  const model = new SSegModel(config, { seed: options.seed });
  const named = model.namedParameters();
  // a pretrained backbone is fine-tuned at its own fraction of the learning rate
  const backbone = model.backbone instanceof MobileNetBackbone ? model.backbone : null;
  const lrScales: Record<string, number> = backbone ? { "backbone.": backbone.config.lrScale } : {};
  const optimizer = new AdamW(weightDecayGroups(named, options.weightDecay, lrScales), { learningRate: lr });
  let step = 0;
  let samplesSeen = 0;
  const resumeFrom = options.resume ? await latestCheckpoint(options.out) : undefined;
  if (resumeFrom) ({ step, samplesSeen } = await restoreTrainingCheckpoint(resumeFrom, model, optimizer));
  else if (backbone?.config.pretrained)
    backbone.trunk.loadStateDict(await readTensorFile(PRETRAINED_MOBILENET_FILE));
  const { onStep: _onStep, shouldStop: _shouldStop, onEstimate: _onEstimate, ...given } = options;
  const settings = { ...given, lr, warmupSteps };
  let lastSaveMs = 0;
  const save = async (): Promise<string> => {
    const saveStarted = performance.now();
    const dir = await saveTrainingCheckpoint(options.out, model, optimizer, {
      step,
      samplesSeen,
      config,
      options: settings,
    });
    lastSaveMs = performance.now() - saveStarted;
    return dir;
  };
  await writeFileAtomic(
    join(options.out, "config.json"),
    `${JSON.stringify({ config, options: settings }, null, 2)}\n`,
  );

  // ---- data: the same stream from the seed, fast-forwarded past what was already trained on ----
  const pairs = await openPairSource(options.data, {
    epochs: Number.POSITIVE_INFINITY,
    seed: options.seed,
    shuffleShards: true,
    shuffleBuffer: 1000,
    strict: options.strict,
    allowOutsidePaths: options.allowOutsidePaths,
  });
  const features = await openFeatureSource(options.features, { seed: options.seed });
  const tokenizer = await ClipTokenizer.load();
  const batches = trainingBatches(
    pairs,
    tokenizer,
    {
      batchSize: options.batchSize,
      size: config.imageSize,
      maskStride: 4,
      scale: options.scale,
      features,
      k: options.k,
      cache: new MaskCache(join(options.out, "mask-cache")),
      seed: options.seed,
      nouns: lexicon,
      generalize: options.generalWords,
    },
    samplesSeen,
  );
  const criterion = new SetCriterion(new HungarianMatcher());
  const dropouts = model.modules().filter((m) => m instanceof Dropout || m instanceof DropPath) as (
    | Dropout
    | DropPath
  )[];
  const logPath = join(options.out, "log.jsonl");
  const log = await readLog(logPath, step + 1);
  await writeFileAtomic(logPath, log.map((r) => `${JSON.stringify(r)}\n`).join(""));
  let best = (await bestScore(options.out))?.score ?? Number.NEGATIVE_INFINITY;
  const drawCurves = async () =>
    writeLossCurve(join(options.out, "loss.png"), await readLog(logPath), `${config.name} · ${options.data}`);

  // ---- the loop ----
  const firstStep = step;
  const startSamples = samplesSeen;
  const stepMs: number[] = [];
  let lastValMs = 0;
  let badInARow = 0;
  let stopReason: TrainSummary["stopReason"] = "done";
  let peakRss = 0;
  let lastLosses: Record<string, number> = {};
  let lastValidation: ValidationRecord | undefined;
  let pending: LogRecord[] = [];
  model.train();
  while (step < options.steps) {
    if (options.shouldStop?.()) {
      stopReason = "interrupted";
      break;
    }
    // phase 0: stop while the next step, a validation due with it and the final checkpoint still fit in the time
    const nextStepMs = stepMs.length > 0 ? Math.max(...stepMs) : 0;
    const valDue = options.val !== undefined && (step + 1) % options.valEvery === 0;
    if (performance.now() + nextStepMs + (valDue ? lastValMs : 0) + 2 * lastSaveMs > deadline) {
      stopReason = "time";
      break;
    }
    const stepStarted = performance.now();
    // phase 1: learning rate and this step's dropout draws
    optimizer.learningRate = cosineWithWarmup(step, {
      baseLr: lr,
      minLr: options.minLr,
      warmupSteps,
      totalSteps: options.steps,
    });
    for (const [i, dropout] of dropouts.entries()) dropout.reseed(stepSeed(options.seed, step, i));

    // phase 2: gradients summed over the micro-batches
    const sums: Record<string, number> = {};
    const naming: Record<string, number> = {};
    let gradients: tf.NamedTensorMap | null = null;
    for (let micro = 0; micro < options.accumulate; micro++) {
      const next = await batches.next();
      if (next.done) throw new Error(`${options.data}: the data stream ended (is it empty?)`);
      const batch: TrainingBatch = next.value;
      samplesSeen += batch.keys.length;
      const inputs = batchTensors(batch);
      const parts: Record<string, number> = {};
      const { value, grads } = variableGrads(
        () => {
          const loss = sSegLoss(model, criterion, inputs);
          for (const [name, value] of Object.entries(loss.parts)) parts[name] = value.dataSync()[0];
          for (const [name, value] of Object.entries(loss.naming ?? {}))
            naming[name] = (naming[name] ?? 0) + value / options.accumulate;
          return loss.total.div(options.accumulate) as tf.Scalar;
        },
        named.map(([, v]) => v),
      );
      tf.dispose([value, ...batchTensorList(inputs)]);
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
    const update = Object.values(sums).every(Number.isFinite)
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
      gradNorms: moduleNorms(update.squaredNorms),
      logitScale: tf.tidy(() => model.logitScale.scale().dataSync()[0]),
      ...(Object.keys(naming).length > 0 ? { naming } : {}),
      samplesSeen,
      skipped: update.skipped,
      seconds: (performance.now() - started) / 1000,
    };
    const validating = options.val !== undefined && (step % options.valEvery === 0 || step === options.steps);
    if (validating && options.val !== undefined) {
      const valStarted = performance.now();
      lastValidation = await validate(model, tokenizer, options.val, options.valLimit);
      lastValMs = performance.now() - valStarted;
      record.val = lastValidation;
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
    const improved = lastValidation !== undefined && validating && validationScore(lastValidation) > best;
    if (step % options.checkpointEvery === 0 || step === options.steps || improved) {
      const dir = await save();
      if (improved && lastValidation) {
        best = validationScore(lastValidation);
        await markBest(options.out, dir, { step, score: best });
      }
      await drawCurves();
    }
  }
  await appendLog(logPath, pending);
  if (stopReason !== "done") {
    await save();
    await drawCurves();
  }
  const seconds = (performance.now() - started) / 1000;
  await batches.return(undefined);
  features.dispose();
  model.dispose();
  optimizer.dispose();
  return {
    steps: step,
    samplesSeen,
    stopReason,
    lastLosses,
    lastValidation,
    seconds,
    samplesPerSecond: (samplesSeen - startSamples) / seconds,
    peakRssMb: peakRss / 2 ** 20,
    skippedSamples: summarizeSkipped(pairs.skipped),
  };
}
