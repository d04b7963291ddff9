import assert from "node:assert/strict";
import { test } from "node:test";
import { catalogNouns, debianCatalog } from "../../src/data/composites/catalog.js";
import { NounLexicon } from "../../src/data/nouns.js";

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
