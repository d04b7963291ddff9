import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
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

  /** Write `name` in a fresh subfolder whose images are the shared ones, and return its path. */
  async function indexFile(name: string, text: string): Promise<string> {
    const folder = await mkdtemp(join(dir, "index-"));
    await writeFile(join(folder, name), text);
    return join(folder, name);
  }

  const jsonl = (records: object[]) => records.map((record) => JSON.stringify(record)).join("\n");

  it("reads captions.jsonl relative to its folder, extra fields becoming meta", async () => {
    const path = await indexFile(
      "captions.jsonl",
      `${jsonl([
        { image: "../photos/cat.jpg", caption: " a cat ", url: "http://x/cat.jpg" },
        { image: "../photos/sub dir/bird.png", caption: "a bird" },
      ])}\n\n`,
    );
    const pairs = await collect(await openPairSource(path));
    assert.deepEqual(pairs.map(describePair), [
      {
        key: "../photos/cat.jpg",
        caption: "a cat",
        meta: { url: "http://x/cat.jpg" },
        source: path,
        width: 10,
      },
      { key: "../photos/sub dir/bird.png", caption: "a bird", meta: undefined, source: path, width: 12 },
    ]);
  });

  it("a folder spec finds its captions.jsonl", async () => {
    const path = await indexFile("captions.jsonl", jsonl([{ image: "../photos/dog.jpg", caption: "a dog" }]));
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
        { image: "../photos/cat.jpg", caption: "a cat" },
        { image: "../photos/gone.jpg", caption: "deleted since" },
        { image: "../photos/broken.jpg", caption: "broken" },
        { image: "../photos/dog.jpg", caption: "   " },
      ]),
    );
    const source = await openPairSource(path);
    assert.deepEqual(
      (await collect(source)).map((pair) => pair.key),
      ["../photos/cat.jpg"],
    );
    const reasons = Object.fromEntries(source.skipped.map(({ key, reason }) => [key, reason]));
    assert.match(reasons["../photos/gone.jpg"], /^unreadable image file \(.*gone\.jpg: file not found\)$/);
    assert.match(reasons["../photos/broken.jpg"], /^undecodable image \(/);
    assert.equal(reasons["../photos/dog.jpg"], "empty caption");
  });

  it("a malformed jsonl line is an error naming the file and the line", async () => {
    const good = JSON.stringify({ image: "../photos/cat.jpg", caption: "a cat" });
    const broken = await indexFile("captions.jsonl", `${good}\n${good}\n{"image": "x.jpg", "caption": \n`);
    await assertRejectsWith(openPairSource(broken), DataError, `${broken}:3: not valid JSON`);
    const noCaption = await indexFile("captions.jsonl", `${good}\n{"image": "x.jpg"}\n`);
    await assertRejectsWith(
      openPairSource(noCaption),
      DataError,
      `${noCaption}:2: "caption" must be a string`,
    );
    const notObject = await indexFile("captions.jsonl", `["x.jpg", "a cat"]\n`);
    await assertRejectsWith(openPairSource(notObject), DataError, `${notObject}:1: expected an object`);
  });

  it("reads captions.csv with quoted commas, quotes and line breaks", async () => {
    const path = await indexFile(
      "captions.csv",
      [
        "caption,image,source",
        '"a cat, sitting",../photos/cat.jpg,web',
        '"the ""best"" dog",../photos/dog.jpg,',
        '"a bird\r\non two lines",../photos/sub dir/bird.png,"book, p. 3"',
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

  it("CSV header and field-count problems are errors with the line", async () => {
    const noColumn = await indexFile("captions.csv", "path,text\nx.jpg,a cat\n");
    await assertRejectsWith(openPairSource(noColumn), DataError, `${noColumn}:1: the header must name`);
    const ragged = await indexFile("captions.csv", 'image,caption\nx.jpg,"a cat"\ny.jpg\n');
    await assertRejectsWith(
      openPairSource(ragged),
      DataError,
      `${ragged}:3: 1 fields where the header has 2`,
    );
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
      image: "../photos/cat.jpg",
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
