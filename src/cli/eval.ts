/**
 * `sseg eval`: mmseg mIoU of a model on a segmentation set through the segmenter, with and without background,
 * per-class IoU, aAcc and the learned-mask oracle; `--tune-background` sweeps the threshold and stores the best
 * one with the model so `segment()` uses it by default; `--compare` scores more models on the same images, side by side.
 */
import type { Command } from "commander";
import { type EvaluationResult, evaluate, type PixelSplit, type Scores } from "../eval/evaluate.js";
import type { ImageSegmenter, SegmentOptions } from "../infer/segmenter.js";
import { writeFileAtomic } from "../io/atomic.js";
import { resolveModelFiles, updateStoredConfig } from "../model/files.js";
import { positiveInteger, UsageError } from "./flags.js";
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
  compare: string[];
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
      )
      .option(
        "--compare <model>",
        "also score this model (run, checkpoint or .safetensors; repeatable) on the same images, then a side-by-side table",
        (path: string, paths: string[]) => [...paths, path],
        [],
      ),
  ).action(async (root: string, flags: EvalFlags) => {
    if (flags.tuneBackground && !flags.checkpoint)
      throw new Error("--tune-background stores the threshold with the model: give --checkpoint");
    if (flags.tuneBackground && flags.compare.length > 0)
      throw new UsageError("--tune-background tunes one model: give it without --compare");
    if (flags.savePredictions && flags.compare.length > 0)
      throw new UsageError("--save-predictions writes one model's predictions: give it without --compare");
    for (const path of flags.compare) await resolveModelFiles(path); // a wrong path fails now, not after the first model's scoring
    const segment = await segmentOptionsFrom(flags);
    const limit = flags.limit === undefined ? undefined : positiveInteger(flags.limit, "--limit");
    const rename = flags.rename === undefined ? undefined : renamePairs(flags.rename);
    const score = async (segmenter: ImageSegmenter, thresholds?: number[]) => {
      let bar: Progress | undefined;
      const result = await evaluate(segmenter, root, {
        dataset: flags.dataset,
        split: flags.split,
        segment,
        limit,
        thresholds,
        savePredictions: flags.savePredictions,
        rename,
        onProgress: (done, total) => {
          bar ??= new Progress("eval", total, "images");
          bar.update(done);
        },
      });
      console.log(report(segmenter.description, root, result));
      return { model: segmenter.description, root, ...result };
    };
    const scored: ScoredModel[] = [];
    const segmenter = await openSegmenter(flags, { untrainedFallback: false });
    try {
      const result = await score(segmenter, flags.tuneBackground ? SWEEP : undefined);
      scored.push(result);
      if (flags.tuneBackground) await storeBestRule(segmenter, segment.background, result);
    } finally {
      segmenter.dispose();
    }
    for (const path of flags.compare) {
      const other = await openSegmenter(
        { ...flags, checkpoint: path, untrained: undefined },
        { untrainedFallback: false },
      );
      try {
        scored.push(await score(other));
      } finally {
        other.dispose();
      }
    }
    if (scored.length > 1) console.log(`\n${comparison(scored)}`);
    if (flags.out) {
      const json = scored.length > 1 ? { models: scored } : scored[0];
      await writeFileAtomic(flags.out, `${JSON.stringify(json, null, 2)}\n`);
      const markdown = scored.map((r) => report(r.model, root, r));
      if (scored.length > 1) markdown.push(comparison(scored));
      await writeFileAtomic(flags.out.replace(/(\.json)?$/, ".md"), `${markdown.join("\n\n")}\n`);
    }
    const failed = scored.flatMap((r) => r.failed.map((f) => ({ ...f, model: r.model })));
    if (failed.length > 0) {
      console.error(`sseg eval: ${failed.length} image(s) could not be scored:`);
      for (const { id, reason, model } of failed.slice(0, 5))
        console.error(`  ${id}: ${reason}${scored.length > 1 ? ` (${model})` : ""}`);
      process.exitCode = 1;
    }
  });
}

type ScoredModel = EvaluationResult & { model: string; root: string };

/** `--tune-background`: the best threshold, or the model's own rule if it scores higher, stored with the model. */
async function storeBestRule(
  segmenter: ImageSegmenter,
  asked: SegmentOptions["background"],
  result: ScoredModel,
): Promise<void> {
  const files = segmenter.files;
  const best = bestThreshold(result);
  if (!files || best === undefined || !result.withBackground)
    throw new Error(`${result.root}: no background class, so there is no background rule to tune`);
  // the run's own rule — background words or the learned no-object class — competes with the best threshold
  const own = asked ?? segmenter.defaults.background;
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
  const before = segmenter.defaults.background;
  await updateStoredConfig(files, "inference", { ...segmenter.defaults, background: chosen.rule });
  // the model's files change, so say what they held: an accidental tuning can be undone by hand
  console.log(
    `\n${chosen.what} (mIoU ${pct(chosen.miou)}) stored in ${files.configFile}; it held ${JSON.stringify(before ?? "no background rule")}`,
  );
}

/** Several models on the same images: one row each, the difference to the first (the `-m` model). */
export function comparison(scored: readonly ScoredModel[]): string {
  const first = scored[0];
  const delta = (a: number | undefined, b: number | undefined) =>
    a === undefined || b === undefined ? "n/a" : `${a >= b ? "+" : ""}${(100 * (a - b)).toFixed(1)}`;
  const lines = [
    `## ${scored.length} models on ${first.root} (${first.split}, ${first.images} images)`,
    "",
    "| model | background rule | mIoU with background | Δ | mIoU without background | Δ | image-level top-1 | object pixels: named right / background / another class |",
    "| --- | --- | --- | --- | --- | --- | --- | --- |",
  ];
  for (const r of scored)
    lines.push(
      `| ${r.model} | ${JSON.stringify(r.background)} | ${r.withBackground ? pct(r.withBackground.miou) : "n/a"} | ${r === first ? "" : delta(r.withBackground?.miou, first.withBackground?.miou)} | ${pct(r.withoutBackground.miou)} | ${r === first ? "" : delta(r.withoutBackground.miou, first.withoutBackground.miou)} | ${r.naming ? pct(r.naming.imageTop1) : "n/a"} | ${r.naming ? `${pct(r.naming.pixelSplit.named)} / ${pct(r.naming.pixelSplit.background)} / ${pct(r.naming.pixelSplit.otherClass)} %` : "n/a"} |`,
    );
  return lines.join("\n");
}

/** "truck=vehicle,cow=cattle" → { truck: "vehicle", cow: "cattle" }. */
function renamePairs(text: string): Record<string, string> {
  const pairs: Record<string, string> = {};
  for (const item of text.split(",")) {
    const [name, word, ...rest] = item.split("=").map((s) => s.trim());
    if (!name || !word || rest.length > 0)
      throw new UsageError(`--rename: expected class=word pairs separated by commas, got "${item}"`);
    pairs[name] = word;
  }
  return pairs;
}

const pct = (x: number) => (Number.isNaN(x) ? "–" : (100 * x).toFixed(1));

/** "31.5 % named right, 27.5 % called background, 40.9 % another class". */
const splitText = (split: PixelSplit) =>
  `${pct(split.named)} % named right, ${pct(split.background)} % called background, ${pct(split.otherClass)} % another class`;

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
      "",
      `Object pixels: ${splitText(result.naming.pixelSplit)}; background pixels called an object: ${pct(result.naming.pixelSplit.backgroundCalledObject)} %.`,
    );
  // what a class's labelled pixels were called, most often first (with background)
  const calledAs = (name: string) => {
    const given = Object.entries(result.naming?.calledAs[name] ?? {});
    const total = given.reduce((sum, [, n]) => sum + n, 0);
    if (total === 0) return "n/a";
    given.sort((a, b) => b[1] - a[1]);
    return given
      .slice(0, 3)
      .map(([other, n]) => `${other} ${pct(n / total)}`)
      .join(", ");
  };
  lines.push(
    "",
    "| class | IoU with background | IoU without background | predicted pixels | labelled pixels | its pixels called (top 3, %) |",
    "| --- | --- | --- | --- | --- | --- |",
  );
  if (result.withBackground)
    lines.push(
      `| background | ${pct(result.withBackground.iou.background)} | | ${share("background", "predicted")} | ${share("background", "labelled")} | ${calledAs("background")} |`,
    );
  for (const name of names)
    lines.push(
      `| ${name} | ${result.withBackground ? pct(perClass(result.withBackground, name) ?? Number.NaN) : "n/a"} | ${pct(result.withoutBackground.iou[name])} | ${share(name, "predicted")} | ${share(name, "labelled")} | ${calledAs(name)} |`,
    );
  return lines.join("\n");
}
