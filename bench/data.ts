/**
 * Data-pipeline throughput: 640×480 JPEGs streamed from a webdataset shard, decoded, and augmented
 * (RandomResizedCrop + flip to 224²), in samples per second. The shard (~300 JPEGs cut from samples/) is
 * built in a temporary folder first.
 * Usage: node dist/bench/data.js [--samples 300] [--epochs 3] [--decode-ahead 8] [--shuffle-buffer 100]
 */
import { once } from "node:events";
import { createWriteStream } from "node:fs";
import { mkdtemp, readdir, rm } from "node:fs/promises";
import { availableParallelism, loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import sharp from "sharp";
import { pack } from "tar-stream";
import { augmentImage } from "../src/data/augment.js";
import { openPairSource, summarizeSkipped } from "../src/data/pairs.js";
import { Rng } from "../src/engine/rng.js";

const SAMPLES_DIR = fileURLToPath(new URL("../../samples/", import.meta.url));
const WIDTH = 640;
const HEIGHT = 480;
const TRAINING_SIZE = 224;
const JPEG_QUALITY = 90;

/** A JPEG cut from one of the sample photos: a random region (at least half of each side), resized to 640×480. */
async function samplePhoto(photo: string, rng: Rng): Promise<Buffer> {
  const { width = 0, height = 0 } = await sharp(photo).metadata();
  const regionWidth = Math.ceil(width * (0.5 + 0.5 * rng.uniform()));
  const regionHeight = Math.ceil(height * (0.5 + 0.5 * rng.uniform()));
  const region = {
    left: rng.int(width - regionWidth + 1),
    top: rng.int(height - regionHeight + 1),
    width: regionWidth,
    height: regionHeight,
  };
  const cut = sharp(photo).extract(region).resize(WIDTH, HEIGHT, { fit: "fill" });
  return (rng.uniform() < 0.5 ? cut.flop() : cut).jpeg({ quality: JPEG_QUALITY }).toBuffer();
}

async function writeShard(path: string, count: number, seed: number): Promise<void> {
  const photos = (await readdir(SAMPLES_DIR))
    .filter((name) => name.endsWith(".jpg"))
    .map((name) => join(SAMPLES_DIR, name));
  const rng = new Rng(seed);
  const archive = pack();
  const file = createWriteStream(path);
  archive.pipe(file);
  for (let i = 0; i < count; i++) {
    const key = String(i).padStart(9, "0");
    const photo = photos[i % photos.length];
    archive.entry({ name: `${key}.jpg` }, await samplePhoto(photo, rng));
    archive.entry({ name: `${key}.txt` }, `a photo cut from ${photo.split("/").pop()}`);
    archive.entry({ name: `${key}.json` }, JSON.stringify({ key, width: WIDTH, height: HEIGHT }));
  }
  archive.finalize();
  await once(file, "finish");
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      samples: { type: "string", default: "300" },
      epochs: { type: "string", default: "3" },
      "decode-ahead": { type: "string", default: "8" },
      "shuffle-buffer": { type: "string", default: "100" },
    },
  });
  const samples = Number(values.samples);
  const epochs = Number(values.epochs);
  const decodeAhead = Number(values["decode-ahead"]);
  const shuffleBuffer = Number(values["shuffle-buffer"]);
  const dir = await mkdtemp(join(tmpdir(), "sseg-bench-data-"));
  try {
    const shard = join(dir, "shard-00000.tar");
    await writeShard(shard, samples, 0);
    const source = await openPairSource(shard, {
      epochs,
      seed: 0,
      shuffleShards: true,
      shuffleBuffer,
      decodeAhead,
    });
    const rng = new Rng(1);
    let count = 0;
    const loadBefore = loadavg()[0];
    const cpuBefore = process.cpuUsage();
    const start = performance.now();
    for await (const pair of source) {
      augmentImage(pair.image, rng, { size: TRAINING_SIZE });
      count++;
    }
    const seconds = (performance.now() - start) / 1000;
    const cpu = process.cpuUsage(cpuBefore);
    // CPU time (all of this process's threads) is what other jobs on a shared machine cannot inflate much.
    const cpuMsPerSample = (cpu.user + cpu.system) / 1000 / count;
    const cores = availableParallelism();
    console.log(
      `data: ${(count / seconds).toFixed(0)} samples/s, ${cpuMsPerSample.toFixed(1)} ms CPU per sample ` +
        `(≤ ${((cores * 1000) / cpuMsPerSample).toFixed(0)} samples/s on ${cores} idle cores) — ${count} samples ` +
        `(${epochs} epochs × ${samples} ${WIDTH}×${HEIGHT} JPEGs) decoded + RandomResizedCrop/flip to ${TRAINING_SIZE}² ` +
        `in ${seconds.toFixed(2)} s; shuffle buffer ${shuffleBuffer}, decodeAhead ${decodeAhead}; ` +
        `load average ${loadBefore.toFixed(1)} → ${loadavg()[0].toFixed(1)}; ${summarizeSkipped(source.skipped)}`,
    );
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

await main();
