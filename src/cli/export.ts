/** `sseg export`: a run or checkpoint → a model folder to ship or share (weights only, F16 by default + config.json). */
import { resolve } from "node:path";
import type { Command } from "commander";
import { initEngine } from "../engine/backend.js";
import { loadSSegModel, writeModelFolder } from "../model/files.js";
import type { TensorData } from "../nn/module.js";
import { masksRule, UsageError } from "./flags.js";

interface ExportFlags {
  out: string;
  dtype: string;
  name?: string;
  learnedBackground?: boolean;
  masks?: string;
  flip?: boolean;
  refine?: boolean;
}

const DTYPES = { f16: "F16", f32: "F32" } as const;

export function registerExport(program: Command): void {
  program
    .command("export")
    .description(
      "write a run or checkpoint as a model folder (model.safetensors + config.json) for -m or shipping",
    )
    .argument("<model>", "a run or checkpoint folder, or a .safetensors model with its JSON config")
    .requiredOption("-o, --out <dir>", "the model folder to write (replaced if it exists)")
    .option("--dtype <type>", "weight storage: f16 (half the size) | f32", "f16")
    .option("--name <name>", "the configuration's name in config.json (default: the run's)")
    .option(
      "--learned-background",
      "make the no-object class the model's background rule (needs a region head; default: the stored rule)",
    )
    .option(
      "--masks <rule>",
      "the model's mask rule: mix (every query by its mask) | winner (each pixel's most confident query); default: the stored rule",
    )
    .option("--flip", "the model also segments the mirrored image and averages (default: the stored setting)")
    .option("--no-flip", "the model segments the image as it is only")
    .option(
      "--refine",
      "the model refines its score maps by the image's colours (PAMR; default: the stored setting)",
    )
    .option("--no-refine", "the model uses its score maps as they are")
    .action(async (source: string, flags: ExportFlags) => {
      const dtype = DTYPES[flags.dtype as keyof typeof DTYPES];
      if (!dtype) throw new UsageError(`--dtype: expected f16 or f32, got "${flags.dtype}"`);
      const masks = flags.masks === undefined ? undefined : masksRule(flags.masks);
      await initEngine();
      const { model, files } = await loadSSegModel(source);
      try {
        if (flags.learnedBackground && !model.regionHead)
          throw new Error("--learned-background: this model has no region head, so no no-object class");
        const weights = new Map<string, TensorData>();
        for (const [name, v] of model.stateDict())
          weights.set(name, { shape: v.shape, data: v.dataSync() as Float32Array });
        const inference = model.config.inference && {
          ...model.config.inference,
          ...(flags.learnedBackground ? { background: { noObject: true } } : {}),
          ...(masks ? { masks } : {}),
          ...(flags.flip === undefined ? {} : { flip: flags.flip }),
          ...(flags.refine === undefined ? {} : { refine: flags.refine }),
        };
        const config = { ...model.config, ...(flags.name ? { name: flags.name } : {}), inference };
        const from = files.step === undefined ? files.weights : `${files.weights} (step ${files.step})`;
        const bytes = await writeModelFolder(flags.out, weights, config, {
          dtype,
          metadata: { source: from },
        });
        console.log(
          `wrote ${resolve(flags.out)}: model.safetensors (${(bytes / 2 ** 20).toFixed(1)} MiB, ${dtype}) + config.json "${config.name}" from ${from}`,
        );
      } finally {
        model.dispose();
      }
    });
}
