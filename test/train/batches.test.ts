import assert from "node:assert/strict";
import { test } from "node:test";
import type { ImageCaptionPair } from "../../src/data/pairs.js";
import { openFeatureSource } from "../../src/pseudo/index.js";
import { ClipTokenizer } from "../../src/text/tokenizer.js";
import {
  type BatchOptions,
  splitMasks,
  type TrainingBatch,
  trainingBatches,
} from "../../src/train/batches.js";

/** Pairs of 64×48 images with two colour regions whose boundary moves with the index. */
async function* pairs(count: number): AsyncGenerator<ImageCaptionPair> {
  for (let i = 0; i < count; i++) {
    const width = 64;
    const height = 48;
    const data = new Uint8Array(width * height * 3);
    for (let p = 0; p < width * height; p++) {
      const x = p % width;
      data.set(x < 20 + 3 * i ? [200, 40, 30] : [30, 60, 210], 3 * p);
    }
    yield { key: `k${i}`, image: { width, height, data }, caption: `a photo number ${i}`, source: "memory" };
  }
}

async function collect(iterable: AsyncIterable<TrainingBatch>): Promise<TrainingBatch[]> {
  const out: TrainingBatch[] = [];
  for await (const batch of iterable) out.push(batch);
  return out;
}

/** Batches of two 32² crops with 3 RGB pseudo-masks each, seed 7. */
async function smallBatches(): Promise<BatchOptions> {
  return {
    batchSize: 2,
    size: 32,
    maskStride: 4,
    scale: [0.5, 1],
    features: await openFeatureSource("rgb"),
    k: 3,
    seed: 7,
  };
}

test("training batches: normalised crops, tokens and the crop's pseudo-masks, each pixel in one mask", async () => {
  const tokenizer = await ClipTokenizer.load();
  const options = await smallBatches();
  const batches = await collect(trainingBatches(pairs(5), tokenizer, options));
  assert.equal(batches.length, 2, "the incomplete last batch is dropped");
  const [first] = batches;
  assert.deepEqual(first.keys, ["k0", "k1"]);
  assert.equal(first.images.length, 2 * 32 * 32 * 3);
  assert.equal(first.tokens.length, 2 * 77);
  assert.equal(first.tokens[0], tokenizer.startOfTextId);
  assert.equal(first.maskSize, 8);
  for (const target of first.targets) {
    assert.ok(target.count >= 1 && target.count <= 3);
    const cover = new Uint8Array(64);
    for (let m = 0; m < target.count; m++) {
      const mask = target.masks.subarray(m * 64, (m + 1) * 64);
      assert.ok(
        mask.some((v) => v === 1),
        "no empty mask",
      );
      mask.forEach((v, p) => {
        cover[p] += v;
      });
    }
    assert.ok(cover.every((c) => c === 1));
  }
  const again = await collect(trainingBatches(pairs(5), tokenizer, options));
  assert.deepEqual(again, batches, "same seed, same batches");
  const resumed = await collect(trainingBatches(pairs(5), tokenizer, options, 2));
  assert.equal(resumed.length, 1);
  assert.deepEqual(resumed[0], batches[1], "skipping samples resumes exactly");
});

test("splitMasks keeps the clusters still present, in id order", () => {
  const { count, masks } = splitMasks(Uint8Array.from([2, 2, 0, 2]), 3, 2);
  assert.equal(count, 2, "cluster 1 left the crop");
  assert.deepEqual([...masks], [0, 0, 1, 0, 1, 1, 0, 1]);
});

test("--photometric changes the crops' colours, not their geometry or pseudo-masks, and resumes exactly", async () => {
  const tokenizer = await ClipTokenizer.load();
  const options = await smallBatches();
  const plain = await collect(trainingBatches(pairs(8), tokenizer, options));
  const distorted = await collect(trainingBatches(pairs(8), tokenizer, { ...options, photometric: true }));
  assert.deepEqual(
    distorted.map((b) => b.targets),
    plain.map((b) => b.targets),
    "the same crops and masks",
  );
  const changed = distorted.filter((b, i) => b.images.some((v, p) => v !== plain[i].images[p]));
  assert.ok(changed.length >= 2, `${changed.length} of 4 batches changed colour`);
  const resumed = await collect(trainingBatches(pairs(8), tokenizer, { ...options, photometric: true }, 4));
  assert.deepEqual(resumed, distorted.slice(2));
});
