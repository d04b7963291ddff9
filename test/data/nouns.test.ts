import assert from "node:assert/strict";
import { test } from "node:test";
import {
  catalogImpliedNouns,
  catalogNouns,
  debianCatalog,
  HELD_OUT_GENERAL_WORDS,
} from "../../src/data/composites/catalog.js";
import { GENERAL_WORDS } from "../../src/data/composites/general-words.js";
import { NounLexicon } from "../../src/data/nouns.js";
import { Rng } from "../../src/engine/rng.js";
import { ClipTokenizer } from "../../src/text/tokenizer.js";
import { batchNouns } from "../../src/train/batches.js";

const lexicon = new NounLexicon([
  "car",
  "race car",
  "dog",
  "mouse",
  "post box",
  "lion",
  "sea lion",
  "leaf",
  "tree",
]);

test("NounLexicon: longest phrase first, plurals, head nouns of compounds, each noun once", () => {
  assert.deepEqual(lexicon.extract("A race car and two dogs. A dog."), ["race car", "car", "dog"]);
  assert.deepEqual(lexicon.extract("Three mice and a UK post box"), ["mouse", "post box"]);
  assert.deepEqual(lexicon.extract("A photo of two sea lions."), ["sea lion", "lion"]);
  assert.deepEqual(lexicon.extract("a carpet"), [], "whole words only");
  assert.equal(lexicon.size, 9);
});

test("NounLexicon: a million-noun lexicon file loads (no spread of unbounded arrays)", () => {
  const letters = (i: number) =>
    `q${i.toString(26).replace(/./g, (d) => String.fromCharCode(97 + Number.parseInt(d, 26)))}`;
  const nouns = Array.from({ length: 1_000_000 }, (_, i) => letters(i));
  nouns.push("fire truck");
  const lexicon = new NounLexicon(nouns);
  assert.equal(lexicon.size, 1_000_001);
  const last = letters(999_999);
  assert.deepEqual(lexicon.extract(`two fire trucks and a ${last}`), ["fire truck", last]);
});

test("NounLexicon: a sentence's place phrase names the background, not an object", () => {
  assert.deepEqual(lexicon.extract("A dog on a wet leaf."), ["dog"]);
  assert.deepEqual(lexicon.extract("A photo of a car in front of a tree. A tree."), ["car", "tree"]);
  assert.deepEqual(lexicon.extract("There is a mouse in the picture."), ["mouse"]);
});

test("catalogNouns: class words, synonyms and training stamps' nouns, but no validation stamp's own noun", () => {
  const catalog = debianCatalog();
  const nouns = new Set(catalogNouns(catalog));
  for (const entry of catalog.classes)
    for (const word of [entry.name, ...entry.synonyms]) assert.ok(nouns.has(word), word);
  const trainNames = new Set(catalog.stamps.filter((s) => s.split === "train").map((s) => s.name));
  const classWords = new Set(catalog.classes.flatMap((c) => [c.name, ...c.synonyms]));
  for (const stamp of catalog.stamps.filter((s) => s.split === "val"))
    if (!trainNames.has(stamp.name) && !classWords.has(stamp.name))
      assert.ok(!nouns.has(stamp.name), stamp.name);
});

const hierarchy = new NounLexicon(["cow", "apple", "sparrow"], {
  cow: ["cattle", "animal"],
  apple: ["fruit"],
  sparrow: ["bird", "animal"],
});

test("NounLexicon with a hierarchy: the general words join the lexicon; implied() lists them", () => {
  assert.deepEqual(hierarchy.implied("sparrow"), ["bird", "animal"]);
  assert.deepEqual(hierarchy.implied("animal"), []);
  assert.deepEqual(hierarchy.extract("An animal and two birds by a fruit."), ["animal", "bird"]);
});

test("NounLexicon.generalize: object nouns replaced at the given rate, number and article kept right", () => {
  const caption = "A photo of two cows and an apple on a field of apples.";
  assert.equal(hierarchy.generalize(caption, 0, new Rng(1)), caption);
  const always = hierarchy.generalize(caption, 1, new Rng(1));
  assert.match(always, /^A photo of two (cattle|animals) and a fruit on a field of apples\.$/);
  // the replacement is a function of the generator: the same seed, the same caption
  assert.equal(
    hierarchy.generalize(caption, 0.5, new Rng(7)),
    hierarchy.generalize(caption, 0.5, new Rng(7)),
  );
  const seen = new Set(
    Array.from({ length: 40 }, (_, seed) => hierarchy.generalize("A sparrow.", 0.5, new Rng(seed))),
  );
  assert.deepEqual([...seen].sort(), ["A bird.", "A sparrow.", "An animal."]);
});

test("batchNouns: an image also holds the nouns its caption's nouns imply, when the batch has them", async () => {
  const tokenizer = await ClipTokenizer.load();
  const nouns = batchNouns(["a sparrow.", "a bird.", "an apple."], hierarchy, tokenizer, 77);
  assert.deepEqual(nouns.words, ["sparrow", "bird", "apple"]);
  assert.deepEqual(
    [...nouns.targets],
    [1, 1, 0, 0, 1, 0, 0, 0, 1],
    "the sparrow image holds a bird; the bird image does not hold a sparrow",
  );
});

test("catalogImpliedNouns without general words: a stamp's noun names its class word and synonyms only", () => {
  const catalog = debianCatalog();
  const implied = catalogImpliedNouns(catalog, { generalWords: false });
  const general = new Set(Object.values(GENERAL_WORDS).flat());
  for (const [noun, words] of Object.entries(implied))
    assert.ok(
      !words.some((word) => general.has(word) && !catalogNouns(catalog).includes(word)),
      `${noun}: ${words}`,
    );
  assert.ok(implied.rabbit.includes("bunny"));
  assert.deepEqual(implied.cow, [], "a class word has no general words here");
  const stamp = catalog.stamps.find((s) => s.split === "train" && s.class === "bird" && s.name !== "bird");
  assert.deepEqual(stamp && implied[stamp.name], ["bird"]);
});

test("catalogImpliedNouns: class words imply their synonyms and WordNet general words; training stamps their class", () => {
  const catalog = debianCatalog();
  const implied = catalogImpliedNouns(catalog);
  assert.deepEqual(Object.keys(GENERAL_WORDS).sort(), catalog.classes.map((c) => c.name).sort());
  assert.ok(implied.rabbit.includes("bunny") && implied.bunny.includes("rabbit"));
  assert.ok(
    implied.cow.includes("animal") && implied.apple.includes("fruit") && implied.car.includes("vehicle"),
  );
  const stamp = catalog.stamps.find((s) => s.split === "train" && s.class === "bird" && s.name !== "bird");
  assert.ok(
    stamp && implied[stamp.name].includes("bird") && implied[stamp.name].includes("animal"),
    stamp?.name,
  );
  for (const [noun, words] of Object.entries(implied))
    assert.ok(!words.includes(noun), `${noun} implies itself`);
  // a held-out general word is never implied for its class, but is for another class
  for (const [name, word] of Object.entries(HELD_OUT_GENERAL_WORDS)) {
    const classNouns = catalog.stamps
      .filter((s) => s.class === name && s.split === "train")
      .map((s) => s.name);
    for (const noun of [name, ...classNouns]) assert.ok(!implied[noun]?.includes(word), `${noun} → ${word}`);
    assert.ok(
      Object.entries(GENERAL_WORDS).some(([other, words]) => other !== name && words.includes(word)),
      `${word} is used for another class`,
    );
  }
});
