#!/usr/bin/env node
/**
 * Writes test/fixtures/bad-inputs/: a small corpus of the inputs a new user's folders hold — good items mixed with
 * truncated, mislabelled, empty, oversized and out-of-place ones — that test/bad-inputs.test.ts runs every
 * multi-input command on (issue #23). Deterministic; about 150 KB.
 *
 *   node tools/bad-inputs.mjs
 */
import { copyFile, mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import sharp from "sharp";
import { pack } from "tar-stream";

const OUT = new URL("../test/fixtures/bad-inputs/", import.meta.url).pathname;

/** A 64×48 JPEG with two colour blocks, so segmentation and K-Means have something to split. */
async function goodJpeg(seed) {
  const data = Buffer.alloc(64 * 48 * 3);
  for (let p = 0; p < 64 * 48; p++) {
    const left = p % 64 < 32;
    data.set(left ? [180 + seed, 40, 40] : [40, 60 + seed, 190], 3 * p);
  }
  return sharp(data, { raw: { width: 64, height: 48, channels: 3 } })
    .jpeg({ quality: 90 })
    .toBuffer();
}

async function tarFile(path, members) {
  const archive = pack();
  const chunks = [];
  archive.on("data", (c) => chunks.push(c));
  const done = new Promise((resolve) => archive.on("end", resolve));
  for (const [name, body] of members) archive.entry({ name }, body);
  archive.finalize();
  await done;
  await writeFile(path, Buffer.concat(chunks));
}

await rm(OUT, { recursive: true, force: true });
const good = await goodJpeg(0);
const other = await goodJpeg(30);
const truncated = good.subarray(0, Math.floor(good.length / 2));
const text = Buffer.from("this is a text file, not an image\n");
// 9000² grey zeros: a valid PNG of ~80 KB that decodes to 81 MP, above the 8192² pixel limit
const huge = await sharp({ create: { width: 9000, height: 9000, channels: 3, background: "#000" } })
  .toColourspace("b-w")
  .png({ compressionLevel: 9 })
  .toBuffer();

// images/: segment, demo, pseudo, selftrain label — two good ones, one good one sharing a base name from a
// subfolder, a truncated JPEG, text named .png, an empty file and an oversized PNG
await mkdir(join(OUT, "images", "sub"), { recursive: true });
for (const [name, body] of [
  ["a.jpg", good],
  ["b_truncated.jpg", truncated],
  ["c.jpg", other],
  ["d_text.png", text],
  ["e_empty.jpg", Buffer.alloc(0)],
  ["f_huge.png", huge],
])
  await writeFile(join(OUT, "images", name), body);
await writeFile(join(OUT, "images", "sub", "a.jpg"), other);

// pairs/: a caption index with a good line, a malformed line, a missing image, a truncated image, an absolute
// path and a path leaving the folder
await mkdir(join(OUT, "pairs", "photos"), { recursive: true });
await writeFile(join(OUT, "pairs", "photos", "good.jpg"), good);
await writeFile(join(OUT, "pairs", "photos", "trunc.jpg"), truncated);
const lines = [
  { image: "photos/good.jpg", caption: "a red and a blue block" },
  "{not json",
  { image: "photos/missing.jpg", caption: "gone" },
  { image: "photos/trunc.jpg", caption: "half a picture" },
  { image: "/etc/hostname", caption: "absolute" },
  { image: "../outside.jpg", caption: "outside" },
];
await writeFile(
  join(OUT, "pairs", "captions.jsonl"),
  `${lines.map((l) => (typeof l === "string" ? l : JSON.stringify(l))).join("\n")}\n`,
);

// shards/: one webdataset shard with a good pair, a truncated image, an image without caption and text as .jpg
await mkdir(join(OUT, "shards"), { recursive: true });
await tarFile(join(OUT, "shards", "00000.tar"), [
  ["s000.jpg", good],
  ["s000.txt", Buffer.from("two blocks")],
  ["s001.jpg", truncated],
  ["s001.txt", Buffer.from("half")],
  ["s002.jpg", other],
  ["s003.jpg", text],
  ["s003.txt", Buffer.from("not a picture")],
]);

// voc/: a VOC-layout set whose second label has another size than its image, and a third image with no label
await mkdir(join(OUT, "voc", "JPEGImages"), { recursive: true });
await mkdir(join(OUT, "voc", "SegmentationClass"), { recursive: true });
await mkdir(join(OUT, "voc", "ImageSets", "Segmentation"), { recursive: true });
const label = (width, height) =>
  sharp(Buffer.alloc(width * height, 1), { raw: { width, height, channels: 1 } })
    .toColourspace("b-w")
    .png()
    .toBuffer();
await writeFile(join(OUT, "voc", "JPEGImages", "v1.jpg"), good);
await writeFile(join(OUT, "voc", "SegmentationClass", "v1.png"), await label(64, 48));
await writeFile(join(OUT, "voc", "JPEGImages", "v2.jpg"), other);
await writeFile(join(OUT, "voc", "SegmentationClass", "v2.png"), await label(32, 32));
await writeFile(join(OUT, "voc", "JPEGImages", "v3.jpg"), other);
await writeFile(join(OUT, "voc", "ImageSets", "Segmentation", "val.txt"), "v1\nv2\nv3\n");
await writeFile(join(OUT, "voc", "classes.txt"), "background\ncow\ntree\n");

// models/: a .safetensors model whose keys are someone else's, next to a valid config
await mkdir(join(OUT, "models"), { recursive: true });
const header = JSON.stringify({ "foreign.weight": { dtype: "F32", shape: [2], data_offsets: [0, 8] } });
const padded = header + " ".repeat((8 - ((8 + header.length) % 8)) % 8);
const length = Buffer.alloc(8);
length.writeBigUInt64LE(BigInt(padded.length));
await writeFile(
  join(OUT, "models", "foreign.safetensors"),
  Buffer.concat([length, Buffer.from(padded), Buffer.alloc(8)]),
);
await copyFile(new URL("../assets/model/config.json", import.meta.url), join(OUT, "models", "foreign.json"));
console.log(`wrote ${OUT}`);
