/**
 * `sseg train`: S-Seg's task for the shared training loop (loop.ts). Data: image–caption pairs → augmented crops
 * + caption tokens + cached pseudo-masks (batches.ts); loss: matched mask losses, the caption contrastive loss and,
 * with a region head, the caption-noun loss (objective.ts). AdamW without decay on norms, biases and embeddings
 * (a pretrained backbone at its own learning-rate fraction), cosine schedule with warm-up; validation by the
 * segmenter on a VOC-layout set, the best checkpoint kept by mIoU.
 */
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import * as tf from "@tensorflow/tfjs";
import { catalogImpliedNouns, catalogNouns, debianCatalog } from "../data/composites/catalog.js";
import { NounLexicon } from "../data/nouns.js";
import { openPairSource, type PairSource, summarizeSkipped } from "../data/pairs.js";
import { evaluate } from "../eval/evaluate.js";
import { Segmenter } from "../infer/segmenter.js";
import { PRETRAINED_MOBILENET_FILE, readTensorFile, resolveModelFiles } from "../model/files.js";
import { MobileNetBackbone } from "../model/mobilenet-backbone.js";
import { CONFIGS } from "../model/presets.js";
import { type SSegConfig, SSegModel } from "../model/sseg.js";
import type { TensorData } from "../nn/module.js";
import { type FeatureSource, MaskCache, openFeatureSource } from "../pseudo/index.js";
import { ClipTokenizer } from "../text/tokenizer.js";
import { type TrainingBatch, trainingBatches } from "./batches.js";
import { SetCriterion } from "./criterion.js";
import {
  DEFAULT_RUN_OPTIONS,
  type LoopSummary,
  type MicroBatch,
  type RunOptions,
  runTrainingLoop,
  type TrainingTask,
  type Validation,
} from "./loop.js";
import { HungarianMatcher } from "./matcher.js";
import { batchTensorList, batchTensors, sSegLoss } from "./objective.js";
import { AdamW, cosineWithWarmup, type ParamGroup, type StepResult, weightDecayGroups } from "./optimizer.js";

export interface TrainOptions extends RunOptions {
  /** Model configuration: a name (`tiny`, `paper`) or the configuration itself. */
  config: string | SSegConfig;
  /** Pair source: shards (`train/{00000..00019}.tar`), a captions .jsonl/.csv or its folder. */
  data: string;
  minLr: number;
  weightDecay: number;
  /** Pseudo-mask feature source and K. */
  features: string;
  k: number;
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
  /**
   * With the composites' lexicon: a caption's noun also names its class word and synonyms (a crow is a bird, a
   * bunny a rabbit) — the hierarchy of `generalWords` without the general words.
   */
  classNouns?: boolean;
  /**
   * Start from a trained model's weights (a model folder, run or checkpoint) instead of fresh ones: fine-tuning.
   * Its architecture must be the configuration's; losses, schedule and inference settings may differ.
   */
  init?: string;
  /** Refuse the data at its first bad sample or index line (default: skip, count and report). */
  strict?: boolean;
  /** A caption index may name images outside its folder. */
  allowOutsidePaths?: boolean;
}

/** For a configuration without its own `training` settings. */
export const DEFAULT_LR = 1e-3;
export const DEFAULT_WARMUP_STEPS = 100;

/**
 * AdamW's parameter groups for an S-Seg model: weight decay by parameter kind, and a pretrained backbone fine-tuned
 * at its own fraction of the learning rate (`lrScale` 0: left out, so it gets no gradient at all).
 */
export function sSegParamGroups(model: SSegModel, weightDecay: number): ParamGroup[] {
  const backbone = model.backbone;
  const lrScales: Record<string, number> =
    backbone instanceof MobileNetBackbone ? { "backbone.": backbone.config.lrScale } : {};
  return weightDecayGroups(model.namedParameters(), weightDecay, lrScales);
}

/** Defaults for the tiny model on the composites (documented in docs/training.md). */
export const DEFAULT_TRAIN_OPTIONS = {
  ...DEFAULT_RUN_OPTIONS,
  config: "tiny",
  steps: 3000,
  batchSize: 32,
  minLr: 1e-5,
  weightDecay: 0.05,
  features: "auto",
  k: 8,
  scale: [0.5, 1] as [number, number],
};

export type TrainSummary = LoopSummary<ValidationRecord>;

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
async function nounLexicon({ nouns: file, generalWords, classNouns }: TrainOptions): Promise<NounLexicon> {
  if (generalWords !== undefined && classNouns)
    throw new Error(
      "give at most one of --general-words and --class-nouns (general words imply the class words)",
    );
  if (file === undefined) {
    const catalog = debianCatalog();
    const hierarchy =
      generalWords !== undefined || classNouns
        ? catalogImpliedNouns(catalog, { generalWords: generalWords !== undefined })
        : {};
    return new NounLexicon(catalogNouns(catalog), hierarchy);
  }
  if (generalWords !== undefined || classNouns)
    throw new Error(
      `${generalWords !== undefined ? "--general-words" : "--class-nouns"}: needs the composites' noun lexicon (it has no hierarchy for a --nouns file)`,
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

/** The S-Seg task of the shared loop: the model, its data stream of pairs, pseudo-masks and nouns, its losses. */
class SSegTask implements TrainingTask<ValidationRecord> {
  readonly model: SSegModel;
  readonly optimizer: AdamW;
  readonly settings: { config: SSegConfig; options: Record<string, unknown> };
  readonly title: string;
  private readonly criterion = new SetCriterion(new HungarianMatcher());
  private tokenizer: ClipTokenizer | undefined;
  private pairs: PairSource | undefined;
  private features: FeatureSource | undefined;
  private batches: AsyncGenerator<TrainingBatch> | undefined;

  constructor(
    private readonly config: SSegConfig,
    private readonly options: TrainOptions,
    private readonly lexicon: NounLexicon | undefined,
    private readonly schedule: { lr: number; warmupSteps: number },
  ) {
    this.model = new SSegModel(config, { seed: options.seed });
    this.optimizer = new AdamW(sSegParamGroups(this.model, options.weightDecay), {
      learningRate: schedule.lr,
    });
    const { onStep: _onStep, shouldStop: _shouldStop, onEstimate: _onEstimate, ...given } = options;
    this.settings = { config, options: { ...given, ...schedule } };
    this.title = `${config.name} · ${options.data}`;
    const { val, valLimit } = options;
    if (val !== undefined)
      this.validate = async () => {
        const record = await validate(this.model, this.tokenizer as ClipTokenizer, val, valLimit);
        return { record, score: validationScore(record) };
      };
  }

  private pretrainedBackbone(): MobileNetBackbone | null {
    return this.model.backbone instanceof MobileNetBackbone ? this.model.backbone : null;
  }

  learningRate(step: number): number {
    return cosineWithWarmup(step, {
      baseLr: this.schedule.lr,
      minLr: this.options.minLr,
      warmupSteps: this.schedule.warmupSteps,
      totalSteps: this.options.steps,
    });
  }

  async initialize(): Promise<void> {
    const { init } = this.options;
    if (init !== undefined) {
      let weights: Map<string, TensorData>;
      try {
        weights = await readTensorFile((await resolveModelFiles(init)).weights);
      } catch (err) {
        throw new Error(`--init: ${(err as Error).message}`);
      }
      try {
        this.model.loadStateDict(weights);
      } catch (err) {
        throw new Error(
          `--init ${init}: does not fit the configuration "${this.config.name}": ${(err as Error).message}`,
        );
      }
      return;
    }
    const backbone = this.pretrainedBackbone();
    if (backbone?.config.pretrained)
      backbone.trunk.loadStateDict(await readTensorFile(PRETRAINED_MOBILENET_FILE));
  }

  async openData(samplesSeen: number): Promise<void> {
    const { options, config } = this;
    this.pairs = await openPairSource(options.data, {
      epochs: Number.POSITIVE_INFINITY,
      seed: options.seed,
      shuffleShards: true,
      shuffleBuffer: 1000,
      strict: options.strict,
      allowOutsidePaths: options.allowOutsidePaths,
    });
    this.features = await openFeatureSource(options.features, { seed: options.seed });
    this.tokenizer = await ClipTokenizer.load();
    this.batches = trainingBatches(
      this.pairs,
      this.tokenizer,
      {
        batchSize: options.batchSize,
        size: config.imageSize,
        maskStride: 4,
        scale: options.scale,
        photometric: options.photometric,
        features: this.features,
        k: options.k,
        cache: new MaskCache(join(options.out, "mask-cache")),
        seed: options.seed,
        nouns: this.lexicon,
        generalize: options.generalWords,
      },
      samplesSeen,
    );
  }

  async nextBatch(): Promise<MicroBatch> {
    const next = await (this.batches as AsyncGenerator<TrainingBatch>).next();
    if (next.done) throw new Error(`${this.options.data}: the data stream ended (is it empty?)`);
    const inputs = batchTensors(next.value);
    return {
      samples: next.value.keys.length,
      loss: () => {
        const loss = sSegLoss(this.model, this.criterion, inputs);
        return { total: loss.total, parts: loss.parts, stats: loss.naming ? { ...loss.naming } : undefined };
      },
      dispose: () => tf.dispose(batchTensorList(inputs)),
    };
  }

  /** Scores the model on `options.val`, when given. */
  readonly validate?: () => Promise<Validation<ValidationRecord>>;

  logFields(update: StepResult): Record<string, unknown> {
    return {
      gradNorms: moduleNorms(update.squaredNorms),
      logitScale: tf.tidy(() => this.model.logitScale.scale().dataSync()[0]),
    };
  }

  skippedSamples(): string {
    return this.pairs ? summarizeSkipped(this.pairs.skipped) : "";
  }

  async dispose(): Promise<void> {
    await this.batches?.return(undefined);
    this.features?.dispose();
    this.model.dispose();
    this.optimizer.dispose();
  }
}

/** Train (or resume) a run; returns when `steps` are done, the run is stopped, or its time is up. */
export async function train(options: TrainOptions): Promise<TrainSummary> {
  const config = typeof options.config === "string" ? CONFIGS[options.config] : options.config;
  if (!config)
    throw new Error(
      `--config: unknown configuration "${options.config}"; expected ${Object.keys(CONFIGS).join(" | ")}`,
    );
  const lexicon = config.regions ? await nounLexicon(options) : undefined;
  const lr = options.lr ?? config.training?.lr ?? DEFAULT_LR;
  const warmupSteps = options.warmupSteps ?? config.training?.warmupSteps ?? DEFAULT_WARMUP_STEPS;
  const task = new SSegTask(config, options, lexicon, { lr, warmupSteps });
  return runTrainingLoop(task, options);
}
