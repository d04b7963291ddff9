import { join } from "node:path";
import type { Command } from "commander";
import { initEngine } from "../engine/backend.js";
import { evaluate } from "../eval/evaluate.js";
import { DEFAULT_BACKGROUND_THRESHOLD } from "../infer/semantic.js";
import { writeFileAtomic } from "../io/atomic.js";
import { CONFIGS, type SSegConfig, SSegModel } from "../model/sseg.js";
import { loadCheckpoint } from "../train/checkpoint.js";

interface EvalFlags {
  checkpoint?: string;
  untrained?: string;
  dataset: string;
  split: string;
  threshold: string;
  limit?: string;
  out?: string;
}

export function registerEval(program: Command): void {
  program
    .command("eval")
    .description("score a checkpoint on a segmentation dataset (mmseg mIoU, with and without background)")
    .argument(
      "<root>",
      "dataset folder (a VOC-layout folder with classes.txt, or --dataset voc|context|coco-object)",
    )
    .option("-c, --checkpoint <path>", "a run folder (its latest checkpoint) or a checkpoint folder")
    .option(
      "--untrained <config>",
      `score a randomly initialised model instead (a control): ${Object.keys(CONFIGS).join(" | ")}`,
    )
    .option("--dataset <name>", "voc | context | coco-object | folder", "folder")
    .option("--split <name>", "the split to score", "val")
    .option(
      "--threshold <x>",
      "background threshold on the normalised class score",
      String(DEFAULT_BACKGROUND_THRESHOLD),
    )
    .option("--limit <n>", "score only the first n images")
    .option("-o, --out <file>", "also write the result as JSON")
    .action(async (root: string, flags: EvalFlags) => {
      if (!flags.checkpoint === !flags.untrained)
        throw new Error(
          "sseg eval: give exactly one of --checkpoint <run or checkpoint> and --untrained <config>",
        );
      await initEngine();
      let model: SSegModel;
      let source: string;
      if (flags.checkpoint) {
        const checkpoint = await loadCheckpoint<{ config: SSegConfig }>(flags.checkpoint);
        model = new SSegModel(checkpoint.state.config);
        model.loadStateDict(checkpoint.model);
        source = `${checkpoint.dir} (step ${checkpoint.state.step})`;
      } else {
        const config = CONFIGS[flags.untrained as string];
        if (!config) throw new Error(`--untrained: unknown configuration "${flags.untrained}"`);
        model = new SSegModel(config);
        source = `untrained ${config.name}`;
      }
      const result = await evaluate(model, root, {
        dataset: flags.dataset,
        split: flags.split,
        backgroundThreshold: Number(flags.threshold),
        limit: flags.limit ? Number(flags.limit) : undefined,
      });
      const pct = (x: number) => (100 * x).toFixed(1);
      console.log(
        "| model | images | mIoU with background | without background | its masks, oracle-labelled: with / without |",
      );
      console.log("| --- | --- | --- | --- | --- |");
      console.log(
        `| ${source} | ${result.images} | ${pct(result.miouWithBackground)} | ${pct(result.miouWithoutBackground)} | ${pct(result.maskOracle.withBackground)} / ${pct(result.maskOracle.withoutBackground)} |`,
      );
      if (flags.out)
        await writeFileAtomic(
          flags.out,
          `${JSON.stringify({ model: source, root: join(root), ...result }, null, 2)}\n`,
        );
      model.dispose();
    });
}
