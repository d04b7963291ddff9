/** The flags `segment`, `demo` and `eval` share: which model, and how the segmenter runs it. */
import type { Command } from "commander";
import { hasDefaultModel, loadSegmenter } from "../infer/load.js";
import type { ImageSegmenter, SegmentOptions } from "../infer/segmenter.js";
import { CONFIGS } from "../model/presets.js";
import { masksRule, nonNegativeInteger, numberInRange, positiveInteger, UsageError } from "./flags.js";
import { parseList } from "./inputs.js";

export interface ModelFlags {
  checkpoint?: string;
  untrained?: string;
  seed: string;
  threshold?: string;
  backgroundWords?: string;
  learnedBackground?: boolean;
  masks?: string;
  flip?: boolean;
  refine?: boolean;
  background: boolean;
  mode?: string;
  shortSide?: string;
  crop?: string;
  stride?: string;
  templates?: string;
}

export function addModelOptions(command: Command): Command {
  return command
    .option(
      "-m, --checkpoint <path>",
      "a run or checkpoint folder, or a .safetensors model with its JSON config",
    )
    .option(
      "--untrained <config>",
      `a randomly initialised model (a control): ${Object.keys(CONFIGS).join(" | ")}`,
    )
    .option("--seed <n>", "seed of the untrained model's initialisation", "0")
    .option("--threshold <x>", "background where the best class score is below x (0–1; default: the model's)")
    .option(
      "--background-words <words>",
      'background is what these words win, e.g. "sky,wall,floor" (or @file)',
    )
    .option(
      "--learned-background",
      "background is what the model's no-object class wins (needs a region head)",
    )
    .option("--no-background", "every pixel takes a class")
    .option("--mode <mode>", "whole | slide (default: the model's)")
    .option("--masks <rule>", "mix (every query by its mask) | winner (each pixel's most confident query)")
    .option("--flip", "also segment the mirrored image and average the scores (twice the time)")
    .option("--no-flip", "segment the image as it is only (default: the model's)")
    .option("--refine", "refine the score maps by the image's colours (PAMR, TCL's test-time step)")
    .option("--no-refine", "use the model's score maps as they are (default: the model's)")
    .option("--short-side <n>", "resize the image's short side to n first (default: the model's)")
    .option("--crop <n>", "sliding-window size (with --mode slide)")
    .option("--stride <n>", "sliding-window step (with --mode slide)")
    .option(
      "--templates <t>",
      "prompt templates: simple | groupvit | @file with one template per line ({} = name)",
    );
}

/**
 * The model the flags name; without one, the shipped default model, or (when assets/model/ is missing, and only
 * where `untrainedFallback` allows) an untrained `tiny` model with a warning.
 */
export async function openSegmenter(
  flags: ModelFlags,
  options: { untrainedFallback: boolean },
): Promise<ImageSegmenter> {
  if (flags.checkpoint && flags.untrained)
    throw new UsageError("give either --checkpoint or --untrained, not both");
  if (flags.checkpoint) return loadSegmenter(flags.checkpoint);
  const seed = nonNegativeInteger(flags.seed, "--seed");
  if (flags.untrained) return loadSegmenter({ untrained: flags.untrained, seed });
  if (hasDefaultModel()) return loadSegmenter();
  if (!options.untrainedFallback)
    throw new Error("no model: give --checkpoint <run, checkpoint or .safetensors> or --untrained <config>");
  console.warn(
    "note: the shipped model (assets/model/) is missing, so this runs an UNTRAINED tiny model: its labels are arbitrary.\n" +
      "      Every stage is the real pipeline; give --checkpoint <run or model> for meaningful labels.",
  );
  return loadSegmenter({ untrained: "tiny", seed });
}

export async function segmentOptionsFrom(flags: ModelFlags): Promise<SegmentOptions> {
  const backgroundFlags = [
    flags.threshold !== undefined,
    flags.backgroundWords !== undefined,
    flags.learnedBackground === true,
    !flags.background,
  ];
  if (backgroundFlags.filter(Boolean).length > 1)
    throw new UsageError(
      "give at most one of --threshold, --background-words, --learned-background and --no-background",
    );
  const options: SegmentOptions = {};
  if (flags.threshold !== undefined)
    options.background = { threshold: numberInRange(flags.threshold, "--threshold", 0, 1) };
  if (flags.backgroundWords !== undefined)
    options.background = { classes: await parseList(flags.backgroundWords, "--background-words") };
  if (flags.learnedBackground) options.background = { noObject: true };
  if (!flags.background) options.background = false;
  if (flags.mode !== undefined) {
    if (flags.mode !== "whole" && flags.mode !== "slide")
      throw new UsageError(`--mode: expected whole or slide, got "${flags.mode}"`);
    options.mode = flags.mode;
  }
  if (flags.masks !== undefined) options.masks = masksRule(flags.masks);
  if (flags.flip !== undefined) options.flip = flags.flip;
  if (flags.refine !== undefined) options.refine = flags.refine;
  if (flags.shortSide !== undefined) options.shortSide = positiveInteger(flags.shortSide, "--short-side");
  if (flags.crop !== undefined) options.crop = positiveInteger(flags.crop, "--crop");
  if (flags.stride !== undefined) options.stride = positiveInteger(flags.stride, "--stride");
  if (flags.templates !== undefined)
    options.templates =
      flags.templates === "simple" || flags.templates === "groupvit"
        ? flags.templates
        : await parseList(flags.templates, "--templates");
  return options;
}
