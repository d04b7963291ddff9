#!/usr/bin/env node
// The general words (WordNet hypernyms) of the composite classes, for captions that sometimes say "animal" or
// "vehicle" instead of "cow" or "truck" (naming issue #22, item 5). Reads Debian's WordNet 3.0 (`apt-get install
// wordnet-base`) and writes src/data/composites/general-words.ts: class → its general words, most specific first.
//   npm run build && node tools/general-words.mjs [--wordnet /usr/share/wordnet] [--out src/data/composites/general-words.ts]
// A class's sense is its most frequent noun sense unless SENSES pins another. Its general words are the lemmas of
// the synsets above it (every hypernym path, up to MAX_DEPTH) that are one word and not a plural, were tagged at least once in
// SemCor for that sense (WordNet's cntlist: common words, not "artiodactyl"), and are not in ABSTRACT.
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { debianCatalog } from "../dist/src/data/composites/catalog.js";
import { writeFileAtomic } from "../dist/src/io/atomic.js";

const { values } = parseArgs({
  options: {
    wordnet: { type: "string", default: "/usr/share/wordnet" },
    out: { type: "string", default: "src/data/composites/general-words.ts" },
  },
});
const MAX_DEPTH = 12;
/** Senses where the most frequent one is not the catalog's (WordNet's first "dolphin" is the dolphinfish). */
const SENSES = { dolphin: "dolphin%1:05:00::" };
/** Words too abstract to name a region with: what every object or organism is. */
const ABSTRACT = new Set([
  "organism",
  "being",
  "object",
  "whole",
  "unit",
  "entity",
  "matter",
  "solid",
  "artifact",
  "artefact",
  "instrumentality",
  "instrumentation",
  "food",
  "device",
  "equipment",
  "thing",
  "structure",
  "part",
  "chordate",
  "vertebrate",
  "craniate",
  "placental",
  "produce",
  "conveyance",
  "transport",
  "container",
]);

const read = (file) => readFileSync(`${values.wordnet}/${file}`, "utf8").split("\n");
// index.noun: lemma pos synset_cnt p_cnt [ptr…] sense_cnt tagsense_cnt offset… (offsets by sense frequency)
const senses = new Map();
for (const line of read("index.noun")) {
  if (line === "" || line.startsWith(" ")) continue;
  const fields = line.trim().split(" ");
  senses.set(fields[0], fields.slice(4 + Number(fields[3]) + 2));
}
// data.noun: offset lex_filenum ss_type w_cnt (word lex_id)… p_cnt (symbol offset pos source/target)… | gloss
const synsets = new Map();
for (const line of read("data.noun")) {
  if (line === "" || line.startsWith(" ")) continue;
  const fields = line.split(" | ")[0].split(" ");
  const count = Number.parseInt(fields[3], 16);
  const lemmas = Array.from({ length: count }, (_, i) => ({
    lemma: fields[4 + 2 * i].replace(/\(.*\)$/, ""),
    lexId: Number.parseInt(fields[5 + 2 * i], 16),
  }));
  const at = 4 + 2 * count;
  const hypernyms = [];
  for (let i = 0; i < Number(fields[at]); i++) {
    const [symbol, offset, pos] = fields.slice(at + 1 + 4 * i, at + 4 + 4 * i);
    if ((symbol === "@" || symbol === "@i") && pos === "n") hypernyms.push(offset);
  }
  synsets.set(fields[0], { lexFile: Number(fields[1]), lemmas, hypernyms });
}
// noun.exc: irregular plural → singular ("oxen ox"); a plural lemma ("cows", "oxen") is not a word of its own
const plurals = new Set(read("noun.exc").map((line) => line.split(" ")[0]));
// cntlist.rev: sense_key sense_number tag_cnt; a noun sense key is lemma%1:lex_filenum:lex_id::
const tagged = new Set();
for (const line of read("cntlist.rev")) {
  const [key, , count] = line.split(" ");
  if (key?.includes("%1:") && Number(count) > 0) tagged.add(key);
}
const senseKey = (lemma, synset) =>
  `${lemma.lemma.toLowerCase()}%1:${String(synset.lexFile).padStart(2, "0")}:${String(lemma.lexId).padStart(2, "0")}::`;

function classSynset(word) {
  const offsets = senses.get(word) ?? [];
  if (offsets.length === 0) throw new Error(`${word}: not a WordNet noun`);
  const pinned = SENSES[word];
  if (!pinned) return offsets[0];
  const found = offsets.find((o) =>
    synsets.get(o).lemmas.some((l) => senseKey(l, synsets.get(o)) === pinned),
  );
  if (!found) throw new Error(`${word}: no sense ${pinned}`);
  return found;
}

const result = {};
for (const { name, synonyms } of debianCatalog().classes) {
  const own = new Set([name, ...synonyms]);
  const words = [];
  let level = synsets.get(classSynset(name)).hypernyms;
  for (let depth = 1; depth <= MAX_DEPTH && level.length > 0; depth++) {
    const next = [];
    for (const offset of level) {
      const synset = synsets.get(offset);
      for (const lemma of synset.lemmas) {
        const word = lemma.lemma.toLowerCase();
        const plural = plurals.has(word) || (word.endsWith("s") && own.has(word.slice(0, -1)));
        if (
          /^[a-z]+$/.test(word) &&
          !plural &&
          !ABSTRACT.has(word) &&
          !own.has(word) &&
          !words.includes(word)
        )
          if (tagged.has(senseKey(lemma, synset))) words.push(word);
      }
      next.push(...synset.hypernyms);
    }
    level = [...new Set(next)];
  }
  result[name] = words;
}
const header = [
  "/**",
  " * The composite classes' general words (WordNet 3.0 hypernyms, most specific first), for captions that say",
  ' * "animal" or "vehicle" (naming issue #22). Generated by tools/general-words.mjs from Debian\'s wordnet-base.',
  " */",
];
const body = Object.entries(result).map(
  ([name, words]) => `  ${name}: [${words.map((w) => JSON.stringify(w)).join(", ")}],`,
);
await writeFileAtomic(
  values.out,
  [...header, "export const GENERAL_WORDS: Record<string, readonly string[]> = {", ...body, "};", ""].join(
    "\n",
  ),
);
for (const [name, words] of Object.entries(result)) console.log(`${name}: ${words.join(", ")}`);
