import { join } from "node:path";
import type { Command } from "commander";
import { buildComposites, DEFAULT_BUILD, type ValidationSource } from "../data/composites/build.js";
import { debianCatalog, readCatalog } from "../data/composites/catalog.js";
import { DATASET_NAMES } from "../data/datasets.js";
import {
  type CompositeStats,
  compositeStats,
  isCompositesFolder,
  type PairStats,
  pairStats,
  type SegmentationStats,
  segmentationStats,
} from "../data/stats.js";
import { nonNegativeInteger, positiveInteger } from "./flags.js";
import { Counter, Progress } from "./progress.js";

interface StatsOptions {
  dataset?: string;
  split: string;
  json: boolean;
  strict?: boolean;
  allowOutsidePaths?: boolean;
}

export function registerData(program: Command): void {
  const data = program.command("data").description("data sets: statistics, real-photo composites");
  data
    .command("stats")
    .description(
      "what a source holds: samples, image sizes, caption lengths, skipped samples; or per-class counts",
    )
    .argument(
      "<source>",
      "shards (a.tar, shards/{000..009}.tar), captions .jsonl/.csv or their folder, a composites folder; or a dataset root",
    )
    .option("--dataset <name>", `read <source> as a segmentation set: ${DATASET_NAMES.join(" | ")}`)
    .option("--split <name>", "with --dataset: the split", "val")
    .option("--json", "print JSON instead of a table", false)
    .option(
      "--strict",
      "refuse a pair source at its first bad sample or index line (default: skip and count)",
    )
    .option("--allow-outside-paths", "a caption index may name images outside its folder")
    .action(async (source: string, options: StatsOptions) => {
      const stats = options.dataset
        ? await segmentationStats(options.dataset, source, options.split)
        : isCompositesFolder(source)
          ? await compositeStats(source)
          : await pairStatsWithProgress(source, options);
      console.log(options.json ? JSON.stringify(stats, null, 2) : format(stats));
    });
  data
    .command("composites")
    .description(
      "build real-photo composites from Debian packages: training shards + a VOC-layout validation set",
    )
    .requiredOption("-o, --out <dir>", "output folder")
    .option("--train <n>", "training pairs", String(DEFAULT_BUILD.train))
    .option("--val <n>", "validation images", String(DEFAULT_BUILD.val))
    .option("--size <n>", "side of the square composites in pixels", String(DEFAULT_BUILD.size))
    .option("--seed <n>", "seed; sample i depends only on (seed, split, i)", String(DEFAULT_BUILD.seed))
    .option("--shard-size <n>", "training pairs per shard", String(DEFAULT_BUILD.shardSize))
    .option("--root <dir>", "where the Debian packages are installed or unpacked (dpkg-deb -x)", "/")
    .option("--catalog <file>", "a JSON catalog of stamps, backgrounds and classes instead of the Debian one")
    .option(
      "--val-from <which>",
      "validation stamps and backgrounds: held-back (never in training) | train (seen ones, new placements)",
      DEFAULT_BUILD.valFrom,
    )
    .action(async (options: CompositesOptions) => {
      const catalog = options.catalog ? await readCatalog(options.catalog) : debianCatalog(options.root);
      const summary = await buildComposites({
        ...DEFAULT_BUILD,
        catalog,
        catalogName: options.catalog ?? "debian",
        out: options.out,
        train: nonNegativeInteger(options.train, "--train"),
        val: nonNegativeInteger(options.val, "--val"),
        size: positiveInteger(options.size, "--size"),
        seed: nonNegativeInteger(options.seed, "--seed"),
        shardSize: positiveInteger(options.shardSize, "--shard-size"),
        valFrom: options.valFrom as ValidationSource,
        packageRoot: options.root,
        onProgress: progressLine(),
      });
      console.log(
        `${summary.train.images} training pairs in ${summary.shards.length} shard(s), ${summary.val.images} validation images → ${summary.out} (${summary.seconds.toFixed(0)} s; data card: ${join(summary.out, "README.md")})`,
      );
    });
}

interface CompositesOptions {
  out: string;
  train: string;
  val: string;
  size: string;
  seed: string;
  shardSize: string;
  root: string;
  catalog?: string;
  valFrom: string;
}

/** Pair statistics with a sample counter on stderr every 2 s (a large source takes minutes). */
async function pairStatsWithProgress(source: string, options: StatsOptions) {
  const counter = new Counter("stats", "samples");
  const { strict, allowOutsidePaths } = options;
  const stats = await pairStats(source, { strict, allowOutsidePaths, onProgress: (n) => counter.update(n) });
  counter.done();
  return stats;
}

/** One progress line per split. */
function progressLine(): (split: string, done: number, total: number) => void {
  const bars = new Map<string, Progress>();
  return (split, done, total) => {
    let bar = bars.get(split);
    if (!bar) {
      bar = new Progress(split, total, "images");
      bars.set(split, bar);
    }
    bar.update(done);
  };
}

function sizeLine(s: PairStats["sizes"]): string {
  return `image sizes: ${s.minWidth}–${s.maxWidth} × ${s.minHeight}–${s.maxHeight} (mean ${s.meanWidth.toFixed(0)} × ${s.meanHeight.toFixed(0)})`;
}

function format(stats: PairStats | SegmentationStats | CompositeStats): string {
  if (stats.kind === "composites") {
    return [
      stats.train ? `training pairs (train/)\n${format(stats.train)}` : "no training shards",
      stats.val ? `validation set (val/)\n${format(stats.val)}` : "no validation set",
    ].join("\n\n");
  }
  if (stats.kind === "pairs") {
    const lengths = Object.entries(stats.captionWords)
      .sort(([a], [b]) => Number.parseInt(a, 10) - Number.parseInt(b, 10))
      .map(([words, n]) => `${words}: ${n}`)
      .join(", ");
    return [
      `samples: ${stats.samples}`,
      sizeLine(stats.sizes),
      `caption length in words → captions: ${lengths}`,
      stats.skipped > 0 ? stats.skippedSummary : "skipped: none",
    ].join("\n");
  }
  const rows = stats.classes.map((c) => `| ${c.name} | ${c.images} | ${c.pixels} |`);
  return [
    `${stats.dataset}: ${stats.images} images; ${sizeLine(stats.sizes)}; ignored pixels ${stats.ignoredPixels}`,
    "",
    "| class | images | pixels |",
    "| --- | --- | --- |",
    ...rows,
  ].join("\n");
}
