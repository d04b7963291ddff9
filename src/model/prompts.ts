/**
 * Prompts for class names and caption nouns: GroupViT's templates, owned here so that training (the noun-level
 * targets) and inference (class embeddings) fill the same "a photo of a {}.".
 */
import type { Templates } from "./sseg.js";

/** GroupViT's segmentation template (`template: simple`) and its 7-template "subset" (method spec §8.1). */
export const TEMPLATE_PRESETS: Record<"simple" | "groupvit", readonly string[]> = {
  simple: ["a photo of a {}."],
  groupvit: [
    "itap of a {}.",
    "a bad photo of a {}.",
    "a origami {}.",
    "a photo of the large {}.",
    "a {} in a video game.",
    "art of the {}.",
    "a photo of the small {}.",
  ],
};

/** The templates a `Templates` value names, each checked to hold "{}". */
export function resolveTemplates(templates: Templates): readonly string[] {
  const list = typeof templates === "string" ? TEMPLATE_PRESETS[templates] : templates;
  if (!list)
    throw new RangeError(
      `templates: unknown preset "${templates}"; expected ${Object.keys(TEMPLATE_PRESETS).join(" | ")} or an array`,
    );
  if (list.length === 0) throw new RangeError("templates: the list is empty");
  for (const template of list)
    if (typeof template !== "string" || !template.includes("{}"))
      throw new RangeError(`templates: "${template}" has no {} for the class name`);
  return list;
}

/** A noun or class name in the "simple" template, as the naming recipe encodes caption nouns. */
export function simplePrompt(name: string): string {
  return TEMPLATE_PRESETS.simple[0].replaceAll("{}", name);
}

/** A class name may list synonyms, "monkey|ape|primate": its text embedding averages them all; the first is its label. */
export function classWords(name: string): string[] {
  return name.split("|").map((word) => word.trim());
}

/** The label a class name is reported under: its first word ("monkey|ape" → "monkey"). */
export function classLabel(name: string): string {
  return classWords(name)[0];
}
