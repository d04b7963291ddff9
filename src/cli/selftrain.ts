/**
 * `sseg selftrain`: S-Seg+. `label` writes S-Seg's hard labels for a set of training images as a VOC-layout folder
 * (JPEGImages/, SegmentationClass/, ImageSets/Segmentation/train.txt, classes.txt); `train` fits a UperNet to it.
 * Labelling is resumable: images whose label PNG exists are kept, so a long run can be stopped and continued.
 */
import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { join, resolve } from "node:path";
import type { Command } from "commander";
import { openPairSource, summarizeSkipped } from "../data/pairs.js";
import { initEngine } from "../engine/backend.js";
import { IGNORE_LABEL, pseudoLabels } from "../infer/pseudo-labels.js";
import type { SegmentOptions } from "../infer/segmenter.js";
import { writeFileAtomic } from "../io/atomic.js";
import { readImage, writeImage } from "../io/image.js";
import { readLabelPng, writeLabelPng } from "../io/label-png.js";
import type { RgbImage } from "../io/pixels.js";
import { checkUperNetConfig, UPERNET_CONFIGS } from "../model/upernet.js";
import {
  type BalancedWeights,
  balancedPower,
  DEFAULT_SELFTRAIN_OPTIONS,
  type SelfTrainValidation,
  selfTrain,
} from "../train/selftrain.js";
import { configFlag, numberInRange, positiveInteger, UsageError } from "./flags.js";
import { eachItem, listImages, parseList, uniqueStems } from "./inputs.js";
import { addModelOptions, type ModelFlags, openSegmenter, segmentOptionsFrom } from "./model-options.js";
import { addRunOptions, percent, type RunFlags, runControls, runOptionsFrom } from "./run-controls.js";

interface LabelFlags extends ModelFlags {
  images: string;
  classes: string;
  out: string;
  limit?: string;
  minConfidence?: string;
}

export function registerSelfTrain(program: Command): void {
  const selftrain = program
    .command("selftrain")
    .description("S-Seg+: label training images with S-Seg, then train a UperNet on those labels");
  addModelOptions(
    selftrain
      .command("label")
      .description("write S-Seg's labels for training images as a VOC-layout folder (resumable)")
      .requiredOption(
        "--images <source>",
        "an image folder, or pairs: shards (train/{00000..00019}.tar) or a captions .jsonl/.csv",
      )
      .requiredOption("-c, --classes <names>", "the target data set's class names, comma-separated or @file")
      .requiredOption("-o, --out <dir>", "output folder (VOC layout)")
      .option("--limit <n>", "label only the first n images")
      .option("--min-confidence <p>", "pixels whose winning score is below p are ignored (label 255)"),
  ).action((flags: LabelFlags) => runLabel(flags));
  const d = DEFAULT_SELFTRAIN_OPTIONS;
  const train = selftrain
    .command("train")
    .description("train a UperNet (S-Seg+) on the labels of `selftrain label`")
    .requiredOption("--labels <dir>", "the folder `sseg selftrain label` wrote")
    .option(
      "--config <name>",
      `model configuration: ${Object.keys(UPERNET_CONFIGS).join(" | ")}, or a .json file holding one`,
      d.config,
    )
    .option(
      "--pretrained <file>",
      "pretrained ViT weights for the backbone (MAE's .pth for paper; or .safetensors)",
    )
    .option(
      "--class-weights <w>",
      'cross-entropy weight per class: "balanced" (1/√pixel share, from labels.json), "balanced:p" (1/share^p, 0 < p ≤ 1) or one number per class in classes.txt order',
    );
  addRunOptions(
    train,
    { ...d, out: "runs/selftrain" },
    {
      batch: "crops per micro-batch",
      lr: "peak learning rate (AdamW, poly schedule; default: the configuration's)",
      warmup: "linear warm-up steps (default: the configuration's)",
    },
  ).action((flags: SelfTrainFlags) => runSelfTrain(flags));
}

interface SelfTrainFlags extends RunFlags {
  labels: string;
  pretrained?: string;
  config: string;
  classWeights?: string;
}

/** `--class-weights`: "balanced", "balanced:p", or comma-separated non-negative numbers. */
function classWeightsFrom(value: string | undefined): number[] | BalancedWeights | undefined {
  if (value === undefined) return undefined;
  if (balancedPower(value) !== undefined) return value as BalancedWeights;
  const weights = value.split(",").map(Number);
  if (value.trim() === "" || !weights.every((w) => Number.isFinite(w) && w >= 0))
    throw new UsageError(
      `--class-weights: expected "balanced", "balanced:p" (0 < p ≤ 1) or non-negative numbers a,b,c,…, got "${value}"`,
    );
  return weights;
}

async function runSelfTrain(flags: SelfTrainFlags): Promise<void> {
  const engine = await initEngine();
  const run = runOptionsFrom(flags);
  const options = {
    ...DEFAULT_SELFTRAIN_OPTIONS,
    ...run,
    config: await configFlag(flags.config, checkUperNetConfig),
    labels: flags.labels,
    pretrained: flags.pretrained,
    classWeights: classWeightsFrom(flags.classWeights),
  };
  const controls = runControls("selftrain", run.steps, flags.maxMinutes, (record) => {
    const val = record as SelfTrainValidation;
    const withBackground =
      val.miouWithBackground === undefined ? "" : `${percent(val.miouWithBackground)} with / `;
    return `mIoU ${withBackground}${percent(val.miouWithoutBackground)} without background (${val.images} images)`;
  });
  console.log(
    `sseg selftrain train · ${flags.config} · ${flags.labels} → ${flags.out} · backend ${engine.backend}`,
  );
  const summary = await selfTrain({ ...options, ...controls });
  controls.finish(summary);
}

/** One image to label: its name for messages, its id in the output folder, and how to get its pixels. */
interface LabelItem {
  name: string;
  id: string;
  load(): Promise<RgbImage>;
}

/** Pairs (shards or a caption index), streamed, or image files: items with ids safe as file names. */
async function labelItems(
  spec: string,
  limit: number,
): Promise<{ items: AsyncIterable<LabelItem>; total?: number; skipped: () => string }> {
  const isPairs =
    spec.endsWith(".tar") ||
    /\.(jsonl|csv)$/i.test(spec) ||
    ["captions.jsonl", "captions.csv"].some((name) => existsSync(join(spec, name)));
  if (!isPairs) {
    const files = (await listImages([spec])).slice(0, limit);
    const stems = uniqueStems(files);
    const items = (async function* () {
      for (const [i, file] of files.entries())
        yield { name: file, id: stems[i], load: () => readImage(file) };
    })();
    return { items, total: files.length, skipped: () => "" };
  }
  const pairs = await openPairSource(spec, { epochs: 1 });
  const items = (async function* () {
    let count = 0;
    for await (const pair of pairs) {
      if (count++ >= limit) return;
      const id = pair.key.replace(/[^\w.-]+/g, "_");
      yield { name: `${pair.source}:${pair.key}`, id, load: async () => pair.image };
    }
  })();
  return {
    items,
    total: Number.isFinite(limit) ? limit : undefined,
    skipped: () => (pairs.skipped.length > 0 ? summarizeSkipped(pairs.skipped) : ""),
  };
}

async function runLabel(flags: LabelFlags): Promise<void> {
  const classes = await parseList(flags.classes, "--classes");
  const options: SegmentOptions & { minConfidence?: number } = await segmentOptionsFrom(flags);
  if (flags.minConfidence !== undefined)
    options.minConfidence = numberInRange(flags.minConfidence, "--min-confidence", 0, 1);
  const limit =
    flags.limit === undefined ? Number.POSITIVE_INFINITY : positiveInteger(flags.limit, "--limit");
  const segmenter = await openSegmenter(flags, { untrainedFallback: false });
  try {
    const rule = segmenter.validate(classes, options).background;
    console.log(
      `sseg selftrain label · ${segmenter.description} · background ${JSON.stringify(rule)} · ${classes.length} classes → ${resolve(flags.out)}`,
    );
    for (const dir of ["JPEGImages", "SegmentationClass", join("ImageSets", "Segmentation")])
      await mkdir(join(flags.out, dir), { recursive: true });
    await writeFileAtomic(join(flags.out, "classes.txt"), `${["background", ...classes].join("\n")}\n`);
    const { items, total, skipped } = await labelItems(flags.images, limit);
    const counts = new Array<number>(IGNORE_LABEL + 1).fill(0);
    let reused = 0;
    const { results: ids } = await eachItem(
      "selftrain label",
      items,
      total,
      async ({ id, load }) => {
        const labelPath = join(flags.out, "SegmentationClass", `${id}.png`);
        if (existsSync(labelPath) && existsSync(join(flags.out, "JPEGImages", `${id}.jpg`))) {
          for (const label of (await readLabelPng(labelPath)).labels) counts[label]++;
          reused++;
          return id;
        }
        const image = await load();
        const result = pseudoLabels(segmenter, image, classes, options);
        for (const [label, n] of result.counts.entries()) counts[label] += n;
        await writeImage(join(flags.out, "JPEGImages", `${id}.jpg`), image);
        await writeLabelPng(labelPath, result.labels, result.width, result.height);
        return id;
      },
      (line) => console.error(line),
    );
    if (skipped()) console.warn(`--images ${flags.images}: ${skipped()}`);
    await writeFileAtomic(join(flags.out, "ImageSets", "Segmentation", "train.txt"), `${ids.join("\n")}\n`);
    const labelled = counts.reduce((a, b) => a + b, 0);
    const share = (n: number) => (labelled > 0 ? `${((100 * n) / labelled).toFixed(1)} %` : "–");
    const summary = {
      model: segmenter.description,
      background: rule,
      minConfidence: options.minConfidence ?? 0,
      images: ids.length,
      reused,
      classes,
      pixels: Object.fromEntries(
        ["background", ...classes]
          .map((name, i) => [name, counts[i]])
          .concat([["(ignored)", counts[IGNORE_LABEL]]]),
      ),
    };
    await writeFileAtomic(join(flags.out, "labels.json"), `${JSON.stringify(summary, null, 2)}\n`);
    console.log(
      `labelled ${ids.length - reused} image(s) (${reused} already there): background ${share(counts[0])}, ignored ${share(counts[IGNORE_LABEL])}; ${join(flags.out, "labels.json")}`,
    );
  } finally {
    segmenter.dispose();
  }
}
