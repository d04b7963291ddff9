/**
 * `sseg eval`: mmseg mIoU of a model on a segmentation set through the segmenter, with and without background,
 * per-class IoU, aAcc and the learned-mask oracle; `--tune-background` sweeps the threshold and stores the best
 * one with the model so `segment()` uses it by default.
 */
import type { Command } from "commander";
import { type EvaluationResult, evaluate, type Scores } from "../eval/evaluate.js";
import { writeFileAtomic } from "../io/atomic.js";
import { updateStoredConfig } from "../model/files.js";
import { positiveInteger } from "./flags.js";
import { addModelOptions, type ModelFlags, openSegmenter, segmentOptionsFrom } from "./model-options.js";
import { Progress } from "./progress.js";

interface EvalFlags extends ModelFlags {
  dataset: string;
  split: string;
  limit?: string;
  out?: string;
  savePredictions?: string;
  tuneBackground: boolean;
  rename?: string;
}

/** The thresholds `--tune-background` scores: 0, 0.05, …, 1. */
const SWEEP = Array.from({ length: 21 }, (_, i) => i / 20);

export function registerEval(program: Command): void {
  addModelOptions(
    program
      .command("eval")
      .description("score a model on a segmentation set (mmseg mIoU with and without background, per class)")
      .argument(
        "<root>",
        "data set folder (VOC layout with classes.txt, or --dataset voc|context|coco-object|…)",
      )
      .option("--dataset <name>", "voc | voc20 | context | context59 | coco-object | folder", "folder")
      .option("--split <name>", "the split to score", "val")
      .option("--limit <n>", "score only the first n images")
      .option("-o, --out <file.json>", "also write the result as JSON, and as markdown beside it (.md)")
      .option("--save-predictions <dir>", "write each predicted label PNG here")
      .option(
        "--rename <pairs>",
        "call classes by other words in the prompts: class=word,… (e.g. truck=vehicle)",
      )
      .option(
        "--tune-background",
        "sweep the background threshold (against --background-words if given) on this split; store the best with the model",
      ),
  ).action(async (root: string, flags: EvalFlags) => {
    if (flags.tuneBackground && !flags.checkpoint)
      throw new Error("--tune-background stores the threshold with the model: give --checkpoint");
    const segment = await segmentOptionsFrom(flags);
    const limit = flags.limit === undefined ? undefined : positiveInteger(flags.limit, "--limit");
    const rename = flags.rename === undefined ? undefined : renamePairs(flags.rename);
    const segmenter = await openSegmenter(flags, { untrainedFallback: false });
    try {
      let bar: Progress | undefined;
      const result = await evaluate(segmenter, root, {
        dataset: flags.dataset,
        split: flags.split,
        segment,
        limit,
        thresholds: flags.tuneBackground ? SWEEP : undefined,
        savePredictions: flags.savePredictions,
        rename,
        onProgress: (done, total) => {
          bar ??= new Progress("eval", total, "images");
          bar.update(done);
        },
      });
      const markdown = report(segmenter.description, root, result);
      console.log(markdown);
      if (flags.out) {
        const json = { model: segmenter.description, root, ...result };
        await writeFileAtomic(flags.out, `${JSON.stringify(json, null, 2)}\n`);
        await writeFileAtomic(flags.out.replace(/(\.json)?$/, ".md"), `${markdown}\n`);
      }
      if (flags.tuneBackground && segmenter.files) {
        const best = bestThreshold(result);
        if (best === undefined || !result.withBackground)
          throw new Error(`${root}: no background class, so there is no background rule to tune`);
        // the run's own rule — background words or the learned no-object class — competes with the best threshold
        const own = segment.background ?? segmenter.defaults.background;
        const competing = own && ("classes" in own || "noObject" in own) ? own : undefined;
        const chosen =
          competing && result.withBackground.miou > best.miou
            ? {
                rule: competing,
                miou: result.withBackground.miou,
                what:
                  "classes" in competing
                    ? `background words ${competing.classes.join(", ")}`
                    : "the no-object class",
              }
            : {
                rule: { threshold: best.threshold },
                miou: best.miou,
                what: `background threshold ${best.threshold}`,
              };
        await updateStoredConfig(segmenter.files, "inference", {
          ...segmenter.defaults,
          background: chosen.rule,
        });
        console.log(`\n${chosen.what} (mIoU ${pct(chosen.miou)}) stored in ${segmenter.files.configFile}`);
      }
      if (result.failed.length > 0) {
        console.error(`sseg eval: ${result.failed.length} image(s) could not be scored:`);
        for (const { id, reason } of result.failed.slice(0, 5)) console.error(`  ${id}: ${reason}`);
        process.exitCode = 1;
      }
    } finally {
      segmenter.dispose();
    }
  });
}

/** "truck=vehicle,cow=cattle" → { truck: "vehicle", cow: "cattle" }. */
function renamePairs(text: string): Record<string, string> {
  const pairs: Record<string, string> = {};
  for (const item of text.split(",")) {
    const [name, word, ...rest] = item.split("=").map((s) => s.trim());
    if (!name || !word || rest.length > 0)
      throw new Error(`--rename: expected class=word pairs separated by commas, got "${item}"`);
    pairs[name] = word;
  }
  return pairs;
}

const pct = (x: number) => (Number.isNaN(x) ? "–" : (100 * x).toFixed(1));

function bestThreshold(result: EvaluationResult): { threshold: number; miou: number } | undefined {
  return result.thresholdCurve?.reduce((best, point) => (point.miou > best.miou ? point : best));
}

/** The result as markdown: the summary row, the threshold curve if swept, then per-class IoU. */
export function report(model: string, root: string, result: EvaluationResult): string {
  const lines = [
    `## ${model} on ${root} (${result.dataset}, ${result.split}, ${result.images} images)`,
    "",
    `Background rule: ${JSON.stringify(result.background)}.`,
    "",
    "| mIoU with background | aAcc | mIoU without background | its masks, oracle-labelled: with / without |",
    "| --- | --- | --- | --- |",
    `| ${result.withBackground ? pct(result.withBackground.miou) : "n/a"} | ${result.withBackground ? pct(result.withBackground.aAcc) : "n/a"} | ${pct(result.withoutBackground.miou)} | ${pct(result.maskOracle.withBackground)} / ${pct(result.maskOracle.withoutBackground)} |`,
  ];
  if (result.thresholdCurve) {
    lines.push("", "| threshold | mIoU with background |", "| --- | --- |");
    for (const { threshold, miou } of result.thresholdCurve)
      lines.push(`| ${threshold.toFixed(2)} | ${pct(miou)} |`);
  }
  const perClass = (scores: Scores | undefined, name: string) => scores?.iou[name];
  const names = Object.keys(result.withoutBackground.iou);
  const pixels = result.naming?.pixels;
  const share = (name: string, key: "predicted" | "labelled") => {
    if (!pixels) return "n/a";
    const total = Object.values(pixels).reduce((sum, p) => sum + p[key], 0);
    return pct(pixels[name][key] / total);
  };
  if (result.naming)
    lines.push(
      "",
      `Image-level top-1 (the top-scoring class is in the image): ${pct(result.naming.imageTop1)}` +
        // a closed-set (S-Seg+) model has no queries
        (Number.isNaN(result.naming.queryCosine)
          ? "."
          : `; mean cosine between an image's queries: ${result.naming.queryCosine.toFixed(3)}.`),
    );
  lines.push(
    "",
    "| class | IoU with background | IoU without background | predicted pixels | labelled pixels |",
    "| --- | --- | --- | --- | --- |",
  );
  if (result.withBackground)
    lines.push(
      `| background | ${pct(result.withBackground.iou.background)} | | ${share("background", "predicted")} | ${share("background", "labelled")} |`,
    );
  for (const name of names)
    lines.push(
      `| ${name} | ${result.withBackground ? pct(perClass(result.withBackground, name) ?? Number.NaN) : "n/a"} | ${pct(result.withoutBackground.iou[name])} | ${share(name, "predicted")} | ${share(name, "labelled")} |`,
    );
  return lines.join("\n");
}
