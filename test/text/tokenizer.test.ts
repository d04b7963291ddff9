import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { before, describe, test } from "node:test";
import { isDeepStrictEqual } from "node:util";
import { ClipTokenizer } from "../../src/text/tokenizer.js";

interface Fixture {
  vocab_sha256: string;
  vocab_size: number;
  start_of_text: number;
  end_of_text: number;
  context_length: number;
  cases: { text: string; ids: number[]; row: number[]; decoded: string }[];
  decode_cases: { ids: number[]; text: string }[];
}

// Compiled tests live in dist/test/text/, so the repository root is three levels up.
const REPO_ROOT = new URL("../../../", import.meta.url);
const fixture: Fixture = JSON.parse(
  readFileSync(new URL("test/fixtures/text/clip_tokens.json", REPO_ROOT), "utf8"),
);
const SOT = 49406;
const EOT = 49407;

/** The items that fail (first 10 described), or "" when none do: one run shows every failure. */
function mismatches<T>(items: T[], describeItem: (item: T) => string, differs: (item: T) => boolean): string {
  const failed = items.filter(differs);
  return failed.length === 0
    ? ""
    : `${failed.length} mismatches:\n${failed.slice(0, 10).map(describeItem).join("\n")}`;
}

function zeroPadded(ids: number[], length: number): number[] {
  return [...ids, ...new Array<number>(length - ids.length).fill(0)];
}

describe("ClipTokenizer", () => {
  let tokenizer: ClipTokenizer;
  before(async () => {
    tokenizer = await ClipTokenizer.load();
  });

  test("the vendored vocabulary is the one the fixture was generated from", () => {
    const vocab = readFileSync(new URL("assets/clip/bpe_simple_vocab_16e6.txt.gz", REPO_ROOT));
    assert.equal(createHash("sha256").update(vocab).digest("hex"), fixture.vocab_sha256);
  });

  test("vocabulary has 49408 ids with start/end of text at 49406/49407", () => {
    assert.equal(tokenizer.vocabSize, 49408);
    assert.equal(tokenizer.startOfTextId, SOT);
    assert.equal(tokenizer.endOfTextId, EOT);
    assert.deepEqual(
      [fixture.vocab_size, fixture.start_of_text, fixture.end_of_text],
      [tokenizer.vocabSize, SOT, EOT],
    );
  });

  test(`encodes all ${fixture.cases.length} reference strings to CLIP's ids`, () => {
    assert.ok(fixture.cases.length >= 220);
    const report = mismatches(
      fixture.cases,
      (c) => `${JSON.stringify(c.text)}: got ${tokenizer.encode(c.text)}, expected ${c.ids}`,
      (c) => !isDeepStrictEqual(tokenizer.encode(c.text), c.ids),
    );
    assert.equal(report, "");
  });

  test("tokenize gives clip.tokenize(truncate=True) rows", () => {
    const length = fixture.context_length;
    const rows = tokenizer.tokenize(
      fixture.cases.map((c) => c.text),
      length,
    );
    assert.equal(rows.length, fixture.cases.length * length);
    const report = mismatches(
      fixture.cases.map((c, i) => ({
        ...c,
        actual: Array.from(rows.subarray(i * length, (i + 1) * length)),
      })),
      (c) => `${JSON.stringify(c.text)}: got ${c.actual}, expected ${c.row}`,
      (c) => !isDeepStrictEqual(c.actual, c.row),
    );
    assert.equal(report, "");
    assert.deepEqual(Array.from(tokenizer.tokenize(fixture.cases[0].text)), fixture.cases[0].row);
  });

  test("decode matches CLIP's decode, including invalid UTF-8 and special tokens", () => {
    const cases = [...fixture.cases, ...fixture.decode_cases.map((c) => ({ ids: c.ids, decoded: c.text }))];
    const report = mismatches(
      cases,
      (c) =>
        `${c.ids}: got ${JSON.stringify(tokenizer.decode(c.ids))}, expected ${JSON.stringify(c.decoded)}`,
      (c) => tokenizer.decode(c.ids) !== c.decoded,
    );
    assert.equal(report, "");
  });

  test("decode(encode(x)) gives back lower-cased ASCII text up to spacing", () => {
    const ascii = fixture.cases.filter((c) => /^[\x20-\x7e]*$/.test(c.text) && !c.text.includes("&"));
    assert.ok(ascii.length > 150);
    const squeeze = (text: string) => text.replace(/ /g, "");
    for (const { text } of ascii) {
      assert.equal(squeeze(tokenizer.decode(tokenizer.encode(text))), squeeze(text.toLowerCase()), text);
    }
    assert.equal(tokenizer.decode(tokenizer.encode("  A Photo\tOF a\n\nDOG  ")), "a photo of a dog ");
  });

  test("truncation keeps SOT first and EOT last", () => {
    const truncated = fixture.cases.filter((c) => c.ids.length > 75);
    assert.ok(truncated.length >= 5);
    for (const { row } of truncated) assert.deepEqual([row[0], row[76]], [SOT, EOT]);

    const text = "a photo of a very big dog ".repeat(20);
    const ids = tokenizer.encode(text);
    assert.ok(ids.length > 77);
    assert.deepEqual(Array.from(tokenizer.tokenize(text)), [SOT, ...ids.slice(0, 75), EOT]);
    assert.deepEqual(Array.from(tokenizer.tokenize([text, "dog"], 8)), [
      ...[SOT, ...ids.slice(0, 6), EOT],
      ...zeroPadded([SOT, ...tokenizer.encode("dog"), EOT], 8),
    ]);
    const exactFit = [SOT, ...new Array<number>(75).fill(tokenizer.encode("a")[0]), EOT];
    assert.deepEqual(Array.from(tokenizer.tokenize(" a".repeat(75))), exactFit);
  });

  test("tokenize rejects a context length below 1", () => {
    assert.throws(() => tokenizer.tokenize("dog", 0), RangeError);
  });

  test("decode rejects ids outside the vocabulary", () => {
    assert.throws(() => tokenizer.decode([49408]), /49408 is outside the vocabulary/);
  });

  test("a missing vocabulary file is reported with its path", async () => {
    const missing = join(tmpdir(), `sseg-no-such-dir-${process.pid}`, "bpe_simple_vocab_16e6.txt.gz");
    await assert.rejects(ClipTokenizer.load(missing), (error: Error) => error.message.includes(missing));
  });

  test("a merges text with too few merges is refused", () => {
    assert.throws(() => new ClipTokenizer("#version: 0.2\ni n\nt h"), /has 2 merges, expected 48894/);
  });
});
