import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { DataError, openPairSource, shuffleBuffered, summarizeSkipped } from "../../src/data/pairs.js";
import { Rng } from "../../src/engine/rng.js";
import { assertRejectsWith } from "../support/errors.js";

async function* countTo(n: number): AsyncGenerator<number> {
  for (let i = 0; i < n; i++) yield i;
}

async function shuffledRange(n: number, size: number, seed: number): Promise<number[]> {
  const out: number[] = [];
  for await (const item of shuffleBuffered(countTo(n), size, new Rng(seed))) out.push(item);
  return out;
}

test("the shuffle buffer gives a seeded permutation", async () => {
  const items = await shuffledRange(500, 64, 7);
  assert.deepEqual(
    [...items].sort((a, b) => a - b),
    Array.from({ length: 500 }, (_, i) => i),
  );
  assert.deepEqual(await shuffledRange(500, 64, 7), items);
  assert.notDeepEqual(await shuffledRange(500, 64, 8), items);
  const displaced = items.filter((item, i) => item !== i).length;
  assert.ok(displaced > 480, `only ${displaced} of 500 items moved`);
});

test("the shuffle buffer mixes locally, like webdataset's: no item comes out more than a buffer early", async () => {
  const size = 50;
  const items = await shuffledRange(1000, size, 1);
  // The buffer holds at most `size` items, so output i can only be among the first i + size inputs.
  assert.ok(items.every((item, i) => item < i + size + 1));
  // Before anything comes out it holds min(100, size) items: the first output is one of those.
  assert.ok(items[0] < size);
});

test("a shuffle buffer of 0 or 1 keeps the order", async () => {
  assert.deepEqual(await shuffledRange(10, 0, 1), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.deepEqual(await shuffledRange(10, 1, 1), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
});

test("summarizeSkipped counts reasons by kind on one line, with examples of each", () => {
  assert.equal(summarizeSkipped([]), "no samples skipped");
  const skipped = [
    { key: "a", source: "s0.tar", reason: "undecodable image (bad Huffman code)" },
    { key: "b", source: "s0.tar", reason: "no caption member (found only .jpg)" },
    { key: "c", source: "s1.tar", reason: "undecodable image (premature end)" },
  ];
  assert.equal(
    summarizeSkipped(skipped),
    "3 samples skipped: 2 × undecodable image (e.g. a in s0.tar; c in s1.tar), 1 × no caption member (e.g. b in s0.tar)",
  );
});

test("specs that are no pair source, and bad options, are errors saying what was expected", async () => {
  const dir = await mkdtemp(join(tmpdir(), "sseg-pairs-"));
  try {
    const notSource = join(dir, "notes.txt");
    await writeFile(notSource, "hello");
    await assertRejectsWith(openPairSource(notSource), DataError, notSource, "not a pair source");
    await assertRejectsWith(openPairSource(join(dir, "nothing-here")), DataError, "no such file or folder");
    await assertRejectsWith(
      openPairSource(dir, { epochs: 0 }),
      RangeError,
      "Expected a positive integer or Infinity for epochs but received 0",
    );
    await assertRejectsWith(openPairSource(dir, { shuffleBuffer: 2.5 }), RangeError, "shuffleBuffer");
    await assertRejectsWith(openPairSource(dir, { decodeAhead: 0 }), RangeError, "decodeAhead");
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
