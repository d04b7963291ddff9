/**
 * The object nouns of a caption, from a lexicon of noun phrases (the naming recipe's noun-level targets): longest
 * phrase first, singular or plural, a compound also giving its head noun when that is a noun of its own ("race
 * car" → race car, car). A sentence's place phrase ("… on a wet leaf", "… in front of a yellow flower") names the
 * background, not an object, so each sentence is read only up to its first place preposition.
 */
import type { Rng } from "../engine/rng.js";
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

/** A noun phrase found in a caption: the noun (singular), where it stands, and whether it was plural. */
interface Mention {
  noun: string;
  /** Its last word, when that is a noun of its own ("race car" → car). */
  head?: string;
  start: number;
  end: number;
  plural: boolean;
}

export class NounLexicon {
  /** A noun phrase's words (singular or plural form) → the noun (singular). */
  private readonly forms = new Map<string, string>();
  /** A noun → the more general nouns it implies ("sparrow" → bird, animal). */
  private readonly general = new Map<string, readonly string[]>();
  private readonly longest: number;

  /** `general`: for a noun, the more general nouns a caption naming it also names (they join the lexicon). */
  constructor(nouns: Iterable<string>, general: Record<string, readonly string[]> = {}) {
    const add = (noun: string) => {
      const singular = words(noun).join(" ");
      if (singular === "") return "";
      this.forms.set(singular, singular);
      if (!this.forms.has(pluralize(singular))) this.forms.set(pluralize(singular), singular);
      return singular;
    };
    for (const noun of nouns) add(noun);
    for (const [noun, wider] of Object.entries(general)) {
      const key = add(noun);
      const implied = wider.map(add).filter((w) => w !== "" && w !== key);
      if (key !== "" && implied.length > 0) this.general.set(key, implied);
    }
    let longest = 1; // a loop, not Math.max(...): a user's lexicon file can hold a million nouns
    for (const form of this.forms.keys()) longest = Math.max(longest, form.split(" ").length);
    this.longest = longest;
  }

  get size(): number {
    return new Set(this.forms.values()).size;
  }

  /** The more general nouns a caption naming `noun` also names (none if the lexicon has no hierarchy). */
  implied(noun: string): readonly string[] {
    return this.general.get(noun) ?? [];
  }

  /** The caption's object nouns, each once, in order of appearance. */
  extract(caption: string): string[] {
    const found = new Set<string>();
    for (const mention of this.mentions(caption)) {
      found.add(mention.noun);
      if (mention.head) found.add(mention.head);
    }
    return [...found];
  }

  /**
   * The caption with each object noun that has more general words replaced, with probability `rate`, by one of
   * them ("two cows" → "two animals", "an apple" → "a fruit"): captions that sometimes use the general word.
   */
  generalize(caption: string, rate: number, rng: Rng): string {
    let text = caption;
    for (const mention of this.mentions(caption).reverse()) {
      const wider = this.general.get(mention.noun);
      if (!wider || rng.uniform() >= rate) continue;
      const word = wider[rng.int(wider.length)];
      const before = withArticle(text.slice(0, mention.start), word);
      text = before + (mention.plural ? pluralize(word) : word) + text.slice(mention.end);
    }
    return text;
  }

  /** Object noun phrases, longest first, sentence by sentence up to each sentence's place phrase. */
  private mentions(caption: string): Mention[] {
    const mentions: Mention[] = [];
    for (const sentence of caption.matchAll(/[^.!?;]+/g)) {
      const tokens = [...sentence[0].matchAll(/[A-Za-z]+(?:-[A-Za-z]+)*/g)].map((m) => ({
        word: m[0].toLowerCase(),
        start: sentence.index + m.index,
        end: sentence.index + m.index + m[0].length,
      }));
      const placeAt = tokens.findIndex((t, i) => i > 0 && PLACE_PREPOSITIONS.has(t.word));
      const object = (placeAt < 0 ? tokens : tokens.slice(0, placeAt)).map((t) => t.word);
      for (let i = 0; i < object.length; ) {
        const length = this.longestMatch(object, i);
        if (length === 0) {
          i += 1;
          continue;
        }
        const form = object.slice(i, i + length).join(" ");
        const noun = this.forms.get(form)!;
        const head = length > 1 ? this.forms.get(object[i + length - 1]) : undefined;
        mentions.push({
          noun,
          head,
          start: tokens[i].start,
          end: tokens[i + length - 1].end,
          plural: form !== noun,
        });
        i += length;
      }
    }
    return mentions;
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

/** `text` (what precedes a noun) with a trailing "a"/"an" made to fit `word` (by its first letter: a vowel takes "an"). */
function withArticle(text: string, word: string): string {
  const article = /\b(a|an|A|An)(\s+)$/.exec(text);
  if (!article) return text;
  const an = /^[aeiou]/.test(word);
  const fitted = article[1][0] === "A" ? (an ? "An" : "A") : an ? "an" : "a";
  return text.slice(0, article.index) + fitted + article[2];
}
