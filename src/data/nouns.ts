/**
 * The object nouns of a caption, from a lexicon of noun phrases (the naming recipe's noun-level targets): longest
 * phrase first, singular or plural, a compound also giving its head noun when that is a noun of its own ("race
 * car" → race car, car). A sentence's place phrase ("… on a wet leaf", "… in front of a yellow flower") names the
 * background, not an object, so each sentence is read only up to its first place preposition.
 */
import { pluralize } from "./composites/captions.js";

/** Words that start a place phrase in the captions' scenes ("by a lake", "among autumn leaves", "in the picture"). */
const PLACE_PREPOSITIONS = new Set([
  "in",
  "on",
  "by",
  "among",
  "under",
  "at",
  "near",
  "beside",
  "behind",
  "over",
  "across",
  "along",
  "inside",
  "against",
  "above",
  "below",
]);

export class NounLexicon {
  /** A noun phrase's words (singular or plural form) → the noun (singular). */
  private readonly forms = new Map<string, string>();
  private readonly longest: number;

  constructor(nouns: Iterable<string>) {
    for (const noun of nouns) {
      const singular = words(noun).join(" ");
      if (singular === "") continue;
      this.forms.set(singular, singular);
      if (!this.forms.has(pluralize(singular))) this.forms.set(pluralize(singular), singular);
    }
    this.longest = Math.max(1, ...[...this.forms.keys()].map((form) => form.split(" ").length));
  }

  get size(): number {
    return new Set(this.forms.values()).size;
  }

  /** The caption's object nouns, each once, in order of appearance. */
  extract(caption: string): string[] {
    const found = new Set<string>();
    for (const sentence of caption.toLowerCase().split(/[.!?;]+/)) {
      const all = words(sentence);
      const placeAt = all.findIndex((word, i) => i > 0 && PLACE_PREPOSITIONS.has(word));
      const object = placeAt < 0 ? all : all.slice(0, placeAt);
      for (let i = 0; i < object.length; ) {
        const length = this.longestMatch(object, i);
        if (length === 0) {
          i += 1;
          continue;
        }
        const noun = this.forms.get(object.slice(i, i + length).join(" "))!;
        found.add(noun);
        const head = length > 1 ? this.forms.get(object[i + length - 1]) : undefined;
        if (head) found.add(head);
        i += length;
      }
    }
    return [...found];
  }

  private longestMatch(sentence: readonly string[], start: number): number {
    for (let length = Math.min(this.longest, sentence.length - start); length > 0; length--)
      if (this.forms.has(sentence.slice(start, start + length).join(" "))) return length;
    return 0;
  }
}

function words(text: string): string[] {
  return text.toLowerCase().match(/[a-z]+(?:-[a-z]+)*/g) ?? [];
}
