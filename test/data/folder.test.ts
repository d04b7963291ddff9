import assert from "node:assert/strict";
import { copyFile, mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import sharp from "sharp";
import { parseCsv } from "../../src/data/folder.js";
import { DataError, openPairSource } from "../../src/data/pairs.js";
import { assertRejectsWith } from "../support/errors.js";
import { collect, describePair } from "../support/pairs.js";

describe("captioned folders", () => {
  let dir: string;
  const imageNames = ["photos/cat.jpg", "photos/dog.jpg", "photos/sub dir/bird.png"];

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "sseg-folder-"));
    await mkdir(join(dir, "photos/sub dir"), { recursive: true });
    for (const [i, name] of imageNames.entries()) {
      const background = { r: 50 * i, g: 100, b: 150 };
      await sharp({ create: { width: 10 + i, height: 7, channels: 3, background } }).toFile(join(dir, name));
    }
  });
  after(() => rm(dir, { recursive: true, force: true }));

  /** Write `name` in a fresh subfolder whose photos/ links to the shared images, and return its path. */
  async function indexFile(name: string, text: string): Promise<string> {
    const folder = await mkdtemp(join(dir, "index-"));
    await symlink(join(dir, "photos"), join(folder, "photos"), "dir");
    await writeFile(join(folder, name), text);
    return join(folder, name);
  }

  const jsonl = (records: object[]) => records.map((record) => JSON.stringify(record)).join("\n");

  it("reads captions.jsonl relative to its folder, extra fields becoming meta", async () => {
    const path = await indexFile(
      "captions.jsonl",
      `${jsonl([
        { image: "photos/cat.jpg", caption: " a cat ", url: "http://x/cat.jpg" },
        { image: "photos/sub dir/bird.png", caption: "a bird" },
      ])}\n\n`,
    );
    const pairs = await collect(await openPairSource(path));
    assert.deepEqual(pairs.map(describePair), [
      {
        key: "photos/cat.jpg",
        caption: "a cat",
        meta: { url: "http://x/cat.jpg" },
        source: path,
        width: 10,
      },
      { key: "photos/sub dir/bird.png", caption: "a bird", meta: undefined, source: path, width: 12 },
    ]);
  });

  it("a folder spec finds its captions.jsonl", async () => {
    const path = await indexFile("captions.jsonl", jsonl([{ image: "photos/dog.jpg", caption: "a dog" }]));
    const pairs = await collect(await openPairSource(join(path, "..")));
    assert.deepEqual(
      pairs.map((pair) => pair.caption),
      ["a dog"],
    );
  });

  it("missing and corrupt images and empty captions are skipped and reported", async () => {
    await writeFile(join(dir, "photos/broken.jpg"), "not a jpeg");
    const path = await indexFile(
      "captions.jsonl",
      jsonl([
        { image: "photos/cat.jpg", caption: "a cat" },
        { image: "photos/gone.jpg", caption: "deleted since" },
        { image: "photos/broken.jpg", caption: "broken" },
        { image: "photos/dog.jpg", caption: "   " },
      ]),
    );
    const source = await openPairSource(path);
    assert.deepEqual(
      (await collect(source)).map((pair) => pair.key),
      ["photos/cat.jpg"],
    );
    const reasons = Object.fromEntries(source.skipped.map(({ key, reason }) => [key, reason]));
    assert.match(reasons["photos/gone.jpg"], /^unreadable image file \(.*gone\.jpg: file not found\)$/);
    assert.match(reasons["photos/broken.jpg"], /^undecodable image \(/);
    assert.equal(reasons["photos/dog.jpg"], "empty caption");
  });

  it("malformed jsonl lines are skipped and reported by line, like bad shard samples; strict refuses", async () => {
    const good = JSON.stringify({ image: "photos/cat.jpg", caption: "a cat" });
    const text = `${good}\n{"image": "x.jpg", "caption": \n{"image": "x.jpg"}\n["x.jpg", "a cat"]\n${good}\n`;
    const path = await indexFile("captions.jsonl", text);
    const source = await openPairSource(path);
    assert.equal((await collect(source)).length, 2, "both good lines are read");
    const reasons = Object.fromEntries(source.skipped.map(({ key, reason }) => [key, reason]));
    assert.match(reasons["line 2"], /^malformed index line \(not valid JSON \(/);
    assert.equal(reasons["line 3"], 'malformed index line ("caption" must be a string, got undefined)');
    assert.match(reasons["line 4"], /^malformed index line \(expected an object/);
    await assertRejectsWith(
      collect(await openPairSource(path, { strict: true })),
      DataError,
      `${path}: line 2: malformed index line (not valid JSON`,
      "--strict",
    );
    const allBad = await indexFile("captions.jsonl", `["x.jpg", "a cat"]\n`);
    await assertRejectsWith(
      openPairSource(allBad),
      DataError,
      allBad,
      "no samples",
      "1 × malformed index line",
    );
  });

  it("an image path leaving the dataset folder is skipped unless allowed", async () => {
    const outside = join(dir, "photos/dog.jpg");
    const path = await indexFile(
      "captions.jsonl",
      jsonl([
        { image: "photos/cat.jpg", caption: "inside" },
        { image: "..cat.jpg", caption: "a name starting with two dots, inside" },
        { image: "../index-x/../photos/dog.jpg", caption: "climbs out" },
        { image: outside, caption: "absolute" },
      ]),
    );
    await copyFile(join(dir, "photos/cat.jpg"), join(path, "..", "..cat.jpg"));
    const source = await openPairSource(path);
    assert.deepEqual(
      (await collect(source)).map((pair) => pair.caption),
      ["inside", "a name starting with two dots, inside"],
    );
    assert.deepEqual(
      source.skipped.map(({ reason }) => reason.split(" (")[0]),
      ["image path outside the dataset folder", "image path outside the dataset folder"],
    );
    const allowed = await collect(await openPairSource(path, { allowOutsidePaths: true }));
    assert.deepEqual(
      allowed.map((pair) => pair.caption),
      ["inside", "a name starting with two dots, inside", "climbs out", "absolute"],
    );
  });

  it("reads captions.csv with quoted commas, quotes and line breaks", async () => {
    const path = await indexFile(
      "captions.csv",
      [
        "caption,image,source",
        '"a cat, sitting",photos/cat.jpg,web',
        '"the ""best"" dog",photos/dog.jpg,',
        '"a bird\r\non two lines",photos/sub dir/bird.png,"book, p. 3"',
      ].join("\r\n"),
    );
    const pairs = await collect(await openPairSource(path));
    assert.deepEqual(
      pairs.map(({ caption, meta }) => ({ caption, meta })),
      [
        { caption: "a cat, sitting", meta: { source: "web" } },
        { caption: 'the "best" dog', meta: { source: "" } },
        { caption: "a bird\r\non two lines", meta: { source: "book, p. 3" } },
      ],
    );
  });

  it("parses RFC 4180 records with their starting line numbers", () => {
    assert.deepEqual(parseCsv('a,b\n"x\ny",z\n\n"",\n1,2,', "f.csv"), [
      { line: 1, fields: ["a", "b"] },
      { line: 2, fields: ["x\ny", "z"] },
      { line: 5, fields: ["", ""] },
      { line: 6, fields: ["1", "2", ""] },
    ]);
    assert.throws(
      () => parseCsv('a,b\n"never closed,1\n', "f.csv"),
      /f\.csv:2: quoted field is never closed/,
    );
    assert.throws(() => parseCsv('a,"b"c\n', "f.csv"), /f\.csv:1: unexpected "c" after a closing quote/);
  });

  it("a CSV header without the columns is an error; a ragged row is skipped by line", async () => {
    const noColumn = await indexFile("captions.csv", "path,text\nx.jpg,a cat\n");
    await assertRejectsWith(openPairSource(noColumn), DataError, `${noColumn}:1: the header must name`);
    const ragged = await indexFile("captions.csv", 'image,caption\nphotos/cat.jpg,"a cat"\ny.jpg\n');
    const source = await openPairSource(ragged);
    assert.equal((await collect(source)).length, 1);
    assert.deepEqual(source.skipped, [
      { key: "line 3", source: ragged, reason: "malformed index line (1 fields where the header has 2)" },
    ]);
  });

  it("an index without entries, a missing index and a folder without one are errors naming them", async () => {
    const empty = await indexFile("captions.jsonl", "\n\n");
    await assertRejectsWith(openPairSource(empty), DataError, empty, "no samples");
    const headerOnly = await indexFile("captions.csv", "image,caption\n");
    await assertRejectsWith(openPairSource(headerOnly), DataError, headerOnly, "no samples");
    const missing = join(dir, "nowhere/captions.jsonl");
    await assertRejectsWith(openPairSource(missing), DataError, missing, "no such file");
    const photos = join(dir, "photos");
    await assertRejectsWith(
      openPairSource(photos),
      DataError,
      photos,
      "neither captions.jsonl nor captions.csv",
    );
  });

  it("shuffleShards permutes the whole index, seeded", async () => {
    const records = Array.from({ length: 30 }, (_, i) => ({
      image: "photos/cat.jpg",
      caption: `cat ${i}`,
    }));
    const path = await indexFile("captions.jsonl", jsonl(records));
    const captions = async (seed: number) =>
      (await collect(await openPairSource(path, { shuffleShards: true, seed }))).map((pair) => pair.caption);
    const shuffled = await captions(1);
    assert.deepEqual(await captions(1), shuffled);
    assert.notDeepEqual(await captions(2), shuffled);
    assert.notDeepEqual(
      shuffled,
      records.map((record) => record.caption),
    );
    assert.deepEqual([...shuffled].sort(), records.map((record) => record.caption).sort());
  });
});
