/**
 * Captions for composite training pairs. They mix the stamps' own caption lines ("A brown hen."), templates
 * over class names, their synonyms and the stamps' specific nouns ("a photo of two cows and a flamingo on a
 * sand dune."), and both together, so that the text encoder sees real language and not one fixed prompt.
 */
import type { Rng } from "../../engine/rng.js";

export interface CaptionObject {
  /** Class name, or undefined for a training-only stamp. */
  className?: string;
  /** Words a caption may use for the class (class objects only). */
  synonyms: readonly string[];
  /** The stamp's specific noun ("flamingo"). */
  name: string;
  /** The stamp's own caption line. */
  ownCaption: string;
}

export type CaptionKind = "own" | "template" | "template+own";

const TEMPLATES = [
  "a photo of {}.",
  "a picture of {}.",
  "{}.",
  "there is {} in the picture.",
  "a close-up photo of {}.",
  "an image with {}.",
  "a cropped photo of {}.",
  "a bright photo of {}.",
];
const SCENE_TEMPLATES = ["{} {scene}.", "a photo of {} {scene}."];

/** How often each kind of caption is drawn, and how often a class object is called by its class word. */
const OWN_PROBABILITY = 0.25;
const TEMPLATE_PROBABILITY = 0.45;
const SCENE_PROBABILITY = 0.3;
const CLASS_WORD_PROBABILITY = 0.6;

const NUMBERS = ["", "", "two", "three", "four"];
const IRREGULAR_PLURALS: Record<string, string> = {
  mouse: "mice",
  goose: "geese",
  fungus: "fungi",
  sheep: "sheep",
  fish: "fish",
  deer: "deer",
  bison: "bison",
  elk: "elk",
  cattle: "cattle",
};
/** Nouns in -o that take -es. */
const O_ES = new Set(["tomato", "potato", "mango", "hero", "volcano"]);

/** English plural of a noun phrase: the head (before " of ", else the last word) is inflected. */
export function pluralize(phrase: string): string {
  const ofAt = phrase.indexOf(" of ");
  if (ofAt > 0) return pluralize(phrase.slice(0, ofAt)) + phrase.slice(ofAt);
  const space = phrase.lastIndexOf(" ");
  const head = phrase.slice(space + 1);
  return phrase.slice(0, space + 1) + pluralWord(head);
}

function pluralWord(word: string): string {
  const irregular = IRREGULAR_PLURALS[word];
  if (irregular) return irregular;
  if (/(s|x|z|ch|sh)$/.test(word)) return `${word}es`;
  if (/[^aeiou]y$/.test(word)) return `${word.slice(0, -1)}ies`;
  if (O_ES.has(word)) return `${word}es`;
  return `${word}s`;
}

/** "a cow" / "an owl" / "two cows". */
export function countedNoun(noun: string, count: number): string {
  if (count === 1) return `${/^[aeiou]/i.test(noun) ? "an" : "a"} ${noun}`;
  return `${NUMBERS[count] ?? String(count)} ${pluralize(noun)}`;
}

/** "a", "a and b", "a, b and c". */
export function joinList(items: readonly string[]): string {
  if (items.length <= 1) return items.join("");
  return `${items.slice(0, -1).join(", ")} and ${items[items.length - 1]}`;
}

/** The noun a template uses for one object: a class word (random synonym) or the stamp's own noun. */
function nounFor(object: CaptionObject, rng: Rng): string {
  if (object.className !== undefined && rng.uniform() < CLASS_WORD_PROBABILITY) {
    const words = object.synonyms.length > 0 ? object.synonyms : [object.className];
    return words[rng.int(words.length)];
  }
  return object.name;
}

/** Objects as a counted list in order of first appearance: "two cows and a flamingo". */
function nounList(objects: readonly CaptionObject[], rng: Rng): string {
  const counts = new Map<string, number>();
  for (const object of objects) {
    const noun = nounFor(object, rng);
    counts.set(noun, (counts.get(noun) ?? 0) + 1);
  }
  return joinList([...counts].map(([noun, count]) => countedNoun(noun, count)));
}

/** The stamps' own lines as sentences: "A cow. A brown hen." */
function ownCaptions(objects: readonly CaptionObject[]): string {
  return objects
    .map((o) => {
      const line = o.ownCaption.trim();
      const sentence = line.charAt(0).toUpperCase() + line.slice(1);
      return /[.!?]$/.test(sentence) ? sentence : `${sentence}.`;
    })
    .join(" ");
}

function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

/** One caption for the objects of a composite (in their stacking order) on a background with a scene phrase. */
export function composeCaption(
  objects: readonly CaptionObject[],
  scene: string,
  rng: Rng,
): { caption: string; kind: CaptionKind } {
  if (objects.length === 0) throw new RangeError("composeCaption: a composite has at least one object");
  const draw = rng.uniform();
  if (draw < OWN_PROBABILITY) return { caption: ownCaptions(objects), kind: "own" };
  const list = nounList(objects, rng);
  const useScene = scene !== "" && rng.uniform() < SCENE_PROBABILITY;
  const templates = useScene ? SCENE_TEMPLATES : TEMPLATES;
  const template = capitalize(
    templates[rng.int(templates.length)].replace("{}", list).replace("{scene}", scene),
  );
  if (draw < OWN_PROBABILITY + TEMPLATE_PROBABILITY) return { caption: template, kind: "template" };
  return { caption: `${template} ${ownCaptions(objects)}`, kind: "template+own" };
}
