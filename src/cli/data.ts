import type { Command, CommanderError } from "commander";
import { DATASET_NAMES } from "../data/datasets.js";
import { type PairStats, pairStats, type SegmentationStats, segmentationStats } from "../data/stats.js";

interface StatsOptions {
  dataset?: string;
  split: string;
  json: boolean;
}

export function registerData(
  program: Command,
  notBuilt: (what: string, owner: string) => CommanderError,
): void {
  const data = program
    .command("data")
    .description("data sets: statistics now; real-photo composites with the data issue");
  data
    .command("stats")
    .description(
      "what a source holds: samples, image sizes, caption lengths, skipped samples; or per-class counts",
    )
    .argument(
      "<source>",
      "shards (a.tar, shards/{000..009}.tar), captions .jsonl/.csv or their folder; or a dataset root",
    )
    .option("--dataset <name>", `read <source> as a segmentation set: ${DATASET_NAMES.join(" | ")}`)
    .option("--split <name>", "with --dataset: the split", "val")
    .option("--json", "print JSON instead of a table", false)
    .action(async (source: string, options: StatsOptions) => {
      const stats = options.dataset
        ? await segmentationStats(options.dataset, source, options.split)
        : await pairStats(source);
      console.log(options.json ? JSON.stringify(stats, null, 2) : format(stats));
    });
  data
    .command("composites")
    .description("build real-photo composites from Debian packages [not built yet]")
    .allowUnknownOption()
    .allowExcessArguments()
    .action(() => {
      throw notBuilt("sseg data composites", "data issue (#5)");
    });
}

function sizeLine(s: PairStats["sizes"]): string {
  return `image sizes: ${s.minWidth}–${s.maxWidth} × ${s.minHeight}–${s.maxHeight} (mean ${s.meanWidth.toFixed(0)} × ${s.meanHeight.toFixed(0)})`;
}

function format(stats: PairStats | SegmentationStats): string {
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
