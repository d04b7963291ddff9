import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import sharp from "sharp";
import { pack } from "tar-stream";
import { DataError, openPairSource, type PairSourceOptions } from "../../src/data/pairs.js";
import { splitMemberName } from "../../src/data/webdataset.js";
import { assertRejectsWith } from "../support/errors.js";
import { collect, describePair } from "../support/pairs.js";

interface Member {
  name: string;
  data: Uint8Array | string;
}

async function tarBytes(members: Member[]): Promise<Buffer> {
  const archive = pack();
  const chunks: Uint8Array[] = [];
  const collected = (async () => {
    for await (const chunk of archive) chunks.push(chunk as Uint8Array);
  })();
  for (const { name, data } of members) archive.entry({ name }, Buffer.from(data));
  archive.finalize();
  await collected;
  return Buffer.concat(chunks);
}

/** A small solid-colour image whose width tells samples apart. */
function encodedImage(width: number, format: "png" | "jpeg" | "webp" = "png"): Promise<Buffer> {
  return sharp({ create: { width, height: 3, channels: 3, background: { r: 200, g: 40, b: 90 } } })
    .toFormat(format)
    .toBuffer();
}

/** img2dataset's members of one sample: image, caption and meta. */
async function sampleMembers(key: string, caption = `a photo of ${key}`): Promise<Member[]> {
  return [
    { name: `${key}.jpg`, data: await encodedImage(4, "jpeg") },
    { name: `${key}.txt`, data: caption },
    { name: `${key}.json`, data: JSON.stringify({ key, width: 4 }) },
  ];
}

async function keysOf(spec: string, options: PairSourceOptions = {}): Promise<string[]> {
  return (await collect(await openPairSource(spec, options))).map((pair) => pair.key);
}

describe("webdataset shards", () => {
  let dir: string;
  const shardKeys = (shard: number) =>
    Array.from({ length: 20 }, (_, i) => `${shard}${String(i).padStart(4, "0")}`);

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "sseg-wds-"));
    for (let shard = 0; shard < 4; shard++) {
      const members = (await Promise.all(shardKeys(shard).map((key) => sampleMembers(key)))).flat();
      await writeFile(join(dir, `shard-${String(shard).padStart(5, "0")}.tar`), await tarBytes(members));
    }
  });
  after(() => rm(dir, { recursive: true, force: true }));

  const allShards = () => join(dir, "shard-{00000..00003}.tar");

  it("yields decoded images with trimmed captions, meta, key and source, in stored order", async () => {
    const members = [
      { name: "a.png", data: await encodedImage(5) },
      { name: "a.txt", data: "  a red square \n" },
      { name: "b.webp", data: await encodedImage(6, "webp") },
      { name: "b.TXT", data: "ünïcödé caption" },
      { name: "b.json", data: '{"similarity": 0.31}' },
    ];
    const path = join(dir, "formats.tar");
    await writeFile(path, await tarBytes(members));
    const pairs = await collect(await openPairSource(path));
    assert.deepEqual(pairs.map(describePair), [
      { key: "a", caption: "a red square", meta: undefined, source: path, width: 5 },
      { key: "b", caption: "ünïcödé caption", meta: { similarity: 0.31 }, source: path, width: 6 },
    ]);
    assert.equal(pairs[0].image.data.length, 5 * 3 * 3);
  });

  it("splits member names exactly like webdataset's base_plus_ext", () => {
    assert.deepEqual(splitMemberName("000123.jpg"), { key: "000123", extension: "jpg" });
    assert.deepEqual(splitMemberName("part.v2/000123.jpg"), { key: "part.v2/000123", extension: "jpg" });
    assert.deepEqual(splitMemberName("000123.seg.png"), { key: "000123", extension: "seg.png" });
    assert.equal(splitMemberName("README"), undefined);
    assert.equal(splitMemberName("dir.v1/README"), undefined);
    // The regex's quirk, kept: a dot-file's key is taken across the slash.
    assert.deepEqual(splitMemberName("dir/.hidden"), { key: "dir/", extension: "hidden" });
  });

  it("keeps dots in directory parts of keys and ignores directories and __meta__ members", async () => {
    const path = join(dir, "dotted.tar");
    await writeFile(
      path,
      await tarBytes([
        { name: "__index__", data: "ignored" },
        ...(await sampleMembers("laion.v2/000001")),
        ...(await sampleMembers("laion.v2/000002")),
      ]),
    );
    const source = await openPairSource(path);
    assert.deepEqual(
      (await collect(source)).map((pair) => pair.key),
      ["laion.v2/000001", "laion.v2/000002"],
    );
    assert.deepEqual(source.skipped, []);
  });

  it("skips and reports bad samples with key and reason, and keeps going", async () => {
    const path = join(dir, "bad.tar");
    const goodImage = await encodedImage(4);
    await writeFile(
      path,
      await tarBytes([
        ...(await sampleMembers("ok1")),
        { name: "corrupt.jpg", data: (await encodedImage(64, "jpeg")).subarray(0, 120) },
        { name: "corrupt.txt", data: "half a jpeg" },
        { name: "nocaption.png", data: goodImage },
        { name: "noimage.txt", data: "a caption without its image" },
        { name: "latin1.png", data: goodImage },
        { name: "latin1.txt", data: new Uint8Array([0x63, 0x61, 0x66, 0xe9]) },
        { name: "blank.png", data: goodImage },
        { name: "blank.txt", data: " \n " },
        { name: "badmeta.png", data: goodImage },
        { name: "badmeta.txt", data: "fine" },
        { name: "badmeta.json", data: "{not json" },
        { name: "twice.png", data: goodImage },
        { name: "twice.txt", data: "one" },
        { name: "twice.txt", data: "two" },
        ...(await sampleMembers("ok2")),
      ]),
    );
    const source = await openPairSource(path);
    assert.deepEqual(
      (await collect(source)).map((pair) => pair.key),
      ["ok1", "ok2"],
    );
    const reasons = Object.fromEntries(source.skipped.map(({ key, reason }) => [key, reason]));
    assert.match(reasons["corrupt"], /^undecodable image \(/);
    assert.equal(reasons["nocaption"], "no caption member (found only .png)");
    assert.equal(reasons["noimage"], "no image member (found only .txt)");
    assert.equal(reasons["latin1"], "caption is not valid UTF-8");
    assert.equal(reasons["blank"], "empty caption");
    assert.match(reasons["badmeta"], /^meta is not valid JSON/);
    assert.equal(reasons["twice"], "duplicate member (twice.txt)");
    assert.ok(source.skipped.every((skip) => skip.source === path));
  });

  it("a truncated shard yields the samples before the cut and reports the one it cuts", async () => {
    const members = [...(await sampleMembers("first")), ...(await sampleMembers("second"))];
    const whole = await tarBytes(members);
    const secondImageAt = whole.indexOf(Buffer.from("second.jpg"));
    const path = join(dir, "truncated.tar");
    await writeFile(path, whole.subarray(0, secondImageAt + 512 + 100)); // header + 100 bytes of the JPEG
    const source = await openPairSource(path);
    assert.deepEqual(
      (await collect(source)).map((pair) => pair.key),
      ["first"],
    );
    assert.equal(source.skipped.length, 1);
    assert.equal(source.skipped[0].key, "second");
    assert.match(source.skipped[0].reason, /^truncated tar member \(second\.jpg: /);
  });

  it("a file that is not a tar is reported, and alone it is an error naming it", async () => {
    const path = join(dir, "not-a-tar.tar");
    await writeFile(path, "just some text, not 512 bytes of tar header".repeat(30));
    const source = await openPairSource(path);
    await assertRejectsWith(collect(source), DataError, path, "no usable samples", "unreadable tar");
    assert.equal(source.skipped[0].key, "(rest of shard)");
  });

  it("reads several shards through a brace pattern, in order without shuffling", async () => {
    assert.deepEqual(await keysOf(allShards()), [0, 1, 2, 3].flatMap(shardKeys));
    assert.deepEqual(await keysOf(join(dir, "shard-{00001,00003}.tar")), [1, 3].flatMap(shardKeys));
  });

  it("shard shuffling is seeded, keeps each shard's samples together and changes every epoch", async () => {
    const shardOrder = (keys: string[]) => keys.filter((_, i) => i % 20 === 0).map((key) => Number(key[0]));
    const options = { shuffleShards: true, seed: 3, epochs: 3 };
    const keys = await keysOf(allShards(), options);
    assert.deepEqual(await keysOf(allShards(), options), keys);
    const orders = [0, 1, 2].map((epoch) => shardOrder(keys.slice(80 * epoch, 80 * (epoch + 1))));
    for (const [epoch, order] of orders.entries()) {
      assert.deepEqual([...order].sort(), [0, 1, 2, 3]);
      assert.deepEqual(keys.slice(80 * epoch, 80 * (epoch + 1)), order.flatMap(shardKeys));
    }
    assert.ok(new Set(orders.map(String)).size > 1, `the same shard order every epoch: ${orders}`);
    assert.notDeepEqual(await keysOf(allShards(), { ...options, seed: 4 }), keys);
  });

  it("the shuffle buffer is seeded and really mixes samples across shards", async () => {
    const stored = [0, 1, 2, 3].flatMap(shardKeys);
    const options = { shuffleBuffer: 30, seed: 11 };
    const keys = await keysOf(allShards(), options);
    assert.deepEqual(await keysOf(allShards(), options), keys);
    assert.deepEqual([...keys].sort(), [...stored].sort());
    const displaced = keys.filter((key, i) => key !== stored[i]).length;
    assert.ok(displaced > 70, `only ${displaced} of 80 samples moved`);
    assert.notDeepEqual(await keysOf(allShards(), { ...options, seed: 12 }), keys);
  });

  it("every epoch passes over every sample exactly once, the buffer drained between epochs", async () => {
    const stored = [0, 1, 2, 3].flatMap(shardKeys).sort();
    const keys = await keysOf(allShards(), { epochs: 3, shuffleShards: true, shuffleBuffer: 50, seed: 5 });
    assert.equal(keys.length, 3 * 80);
    for (let epoch = 0; epoch < 3; epoch++)
      assert.deepEqual(keys.slice(80 * epoch, 80 * (epoch + 1)).sort(), stored);
  });

  it("an endless source can be stopped, and every iteration starts again from the seed", async () => {
    const source = await openPairSource(allShards(), { epochs: Number.POSITIVE_INFINITY, shuffleBuffer: 10 });
    const take = async (n: number) => {
      const keys: string[] = [];
      for await (const pair of source) {
        keys.push(pair.key);
        if (keys.length === n) break;
      }
      return keys;
    };
    const first = await take(200);
    assert.equal(first.length, 200);
    assert.deepEqual(await take(200), first);
  });

  it("missing shards, patterns matching nothing and bad braces are errors naming the pattern", async () => {
    const missing = join(dir, "missing.tar");
    await assertRejectsWith(openPairSource(missing), DataError, missing, "no such file");
    const nothing = join(dir, "other-{00000..00009}.tar");
    await assertRejectsWith(openPairSource(nothing), DataError, nothing, "pattern matches no file");
    const partial = join(dir, "shard-{00000..00005}.tar");
    await assertRejectsWith(
      openPairSource(partial),
      DataError,
      "2 of 6 shards do not exist",
      "shard-00004.tar",
    );
    await assertRejectsWith(openPairSource(join(dir, "shard-{0..1.tar")), DataError, "unbalanced braces");
  });

  it("a shard without samples is an error naming it when iterated", async () => {
    const path = join(dir, "empty.tar");
    await writeFile(path, await tarBytes([]));
    await assertRejectsWith(collect(await openPairSource(path)), DataError, path, "no usable samples");
  });
});
