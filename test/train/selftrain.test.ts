import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { before, test } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { initEngine } from "../../src/engine/backend.js";
import { Rng } from "../../src/engine/rng.js";
import { loadSegmenter } from "../../src/infer/load.js";
import { SelfTrainedSegmenter } from "../../src/infer/selftrained.js";
import { writeImage } from "../../src/io/image.js";
import { writeLabelPng } from "../../src/io/label-png.js";
import type { TensorToWrite } from "../../src/io/safetensors.js";
import { writeSafetensors } from "../../src/io/safetensors-file.js";
import { PRETRAINED_MOBILENET_FILE, readTensorFile } from "../../src/model/files.js";
import {
  loadPretrainedBackbone,
  UperNet,
  type UperNetConfig,
  upernetTiny,
  upernetTinyMobileNet,
  type ViTBackboneConfig,
} from "../../src/model/upernet.js";
import { VisionTransformer } from "../../src/model/vit.js";
import { loadCheckpoint } from "../../src/train/checkpoint.js";
import { readLog } from "../../src/train/log.js";
import { polyWithWarmup } from "../../src/train/optimizer.js";
import {
  balancedClassWeights,
  balancedPower,
  crossEntropyIgnoring,
  DEFAULT_SELFTRAIN_OPTIONS,
  layerDecayScales,
  type SelfTrainOptions,
  selfTrain,
} from "../../src/train/selftrain.js";
import { tempDir } from "../support/temp.js";

before(() => initEngine());

const MAIN = new URL("../../src/cli/main.js", import.meta.url).pathname;

/** A 4-block, 16-wide ViT-8 UperNet at 32²: a second per step on 2 cores. */
const micro: UperNetConfig & { backbone: ViTBackboneConfig } = {
  ...upernetTiny,
  name: "micro",
  imageSize: 32,
  backbone: {
    ...upernetTiny.backbone,
    embedDim: 16,
    depth: 4,
    heads: 2,
    imgSize: 32,
    outIndices: [0, 1, 2, 3],
  },
  head: { channels: 8, poolScales: [1, 2], dropout: 0.1 },
  auxiliary: { ...upernetTiny.auxiliary, channels: 4 },
  inference: { shortSide: 32, mode: "whole", crop: 32, stride: 16 },
  training: { ...upernetTiny.training, warmupSteps: 1 },
};

test("cross-entropy skips ignored pixels: the mean over labelled pixels only, 0 when none is", () => {
  tf.tidy(() => {
    const logits = tf.tensor4d([2, 0, 0, 1, 3, 0], [1, 1, 3, 2]);
    const loss = (labels: number[]) =>
      crossEntropyIgnoring(logits, tf.tensor3d(labels, [1, 1, 3], "int32")).arraySync();
    const nll = (row: number[], k: number) => Math.log(row.reduce((s, v) => s + Math.exp(v), 0)) - row[k];
    assert.ok(Math.abs(loss([0, 1, 255]) - (nll([2, 0], 0) + nll([0, 1], 1)) / 2) < 1e-6);
    assert.ok(Math.abs(loss([255, 255, 1]) - nll([3, 0], 1)) < 1e-6);
    assert.equal(loss([255, 255, 255]), 0);
    // torch's F.cross_entropy(weight=w, ignore_index=255): Σ w[y]·nll / Σ w[y]
    const weighted = crossEntropyIgnoring(
      logits,
      tf.tensor3d([0, 1, 1], [1, 1, 3], "int32"),
      [0.5, 2],
    ).arraySync();
    const expected = (0.5 * nll([2, 0], 0) + 2 * nll([0, 1], 1) + 2 * nll([3, 0], 1)) / 4.5;
    assert.ok(Math.abs(weighted - expected) < 1e-6, `${weighted} vs ${expected}`);
  });
});

test("balanced class weights: 1/√pixel share, mean 1 over the classes present; an absent class stays finite", () => {
  const weights = balancedClassWeights(["background", "cow", "dog", "cat"], {
    background: 96,
    cow: 3,
    dog: 1,
  });
  const raw = [1 / Math.sqrt(0.96), 1 / Math.sqrt(0.03), 1 / Math.sqrt(0.01)];
  const mean = (raw[0] + raw[1] + raw[2]) / 3;
  // exactly 1/√, so the weights recorded by earlier runs (compared on --resume) stay bit-identical
  assert.deepEqual(
    weights.slice(0, 3),
    raw.map((w) => w / mean),
  );
  assert.equal(weights[3], weights[2], "an absent class takes the largest weight");
  assert.throws(() => balancedClassWeights(["background"], {}), /no labelled pixels/);
  const milder = balancedClassWeights(["background", "cow"], { background: 96, cow: 4 }, 0.25);
  const fourth = [0.96 ** -0.25, 0.04 ** -0.25];
  for (const [i, w] of fourth.entries())
    assert.ok(Math.abs(milder[i] - (2 * w) / (fourth[0] + fourth[1])) < 1e-12);
  assert.deepEqual(
    ["balanced", "balanced:0.25", "balanced:1", "balanced:0", "balanced:2", "balanced:x", "even"].map(
      balancedPower,
    ),
    [0.5, 0.25, 1, undefined, undefined, undefined, undefined],
  );
});

test("S-Seg+ schedule and layer decay follow mmseg: poly with linear warm-up; block i at decay^(depth − i)", () => {
  const schedule = { warmupSteps: 10, warmupRatio: 1e-6, totalSteps: 100, baseLr: 1e-4, minLr: 0, power: 1 };
  assert.ok(Math.abs(polyWithWarmup(0, schedule) - 1e-4 * 1e-6) < 1e-18);
  assert.ok(Math.abs(polyWithWarmup(5, schedule) - 1e-4 * 0.95 * (1 - 0.5 * (1 - 1e-6))) < 1e-15);
  assert.ok(Math.abs(polyWithWarmup(10, schedule) - 0.9e-4) < 1e-15);
  assert.equal(polyWithWarmup(100, schedule), 0);
  const scales = layerDecayScales(12, 0.65);
  assert.equal(scales["backbone.blocks.11."], 0.65);
  assert.equal(scales["backbone.blocks.0."], 0.65 ** 12);
  assert.equal(scales["backbone."], 0.65 ** 13);
  assert.deepEqual(Object.keys(scales).at(-1), "backbone.", "the catch-all prefix comes last");
});

/** A labelled folder as `selftrain label` writes it: 6 images of 40×36, two colour blocks each, one bad label. */
async function labelledFolder(root: string): Promise<string> {
  const dir = join(root, "labels");
  for (const sub of ["JPEGImages", "SegmentationClass", "ImageSets/Segmentation"])
    await mkdir(join(dir, sub), { recursive: true });
  const rng = new Rng(1);
  const ids: string[] = [];
  for (let n = 0; n < 6; n++) {
    const [width, height] = [40, 36];
    const data = new Uint8Array(width * height * 3);
    const labels = new Uint8Array(width * height);
    for (let p = 0; p < width * height; p++) {
      const cls = p % width < 20 ? 1 : 2;
      labels[p] = p < width ? 255 : cls;
      data.set(cls === 1 ? [200, 30, 30] : [30, 30, 200], 3 * p);
      data[3 * p + 1] = Math.floor(rng.uniform() * 40);
    }
    const id = `img${n}`;
    ids.push(id);
    await writeImage(join(dir, "JPEGImages", `${id}.jpg`), { width, height, data });
    await writeLabelPng(join(dir, "SegmentationClass", `${id}.png`), labels, width, height);
  }
  await writeFile(join(dir, "SegmentationClass", "img5.png"), "not a png"); // skipped and counted, not fatal
  for (const split of ["train", "val"])
    await writeFile(join(dir, `ImageSets/Segmentation/${split}.txt`), `${ids.join("\n")}\n`);
  await writeFile(join(dir, "classes.txt"), "background\nred\nblue\n");
  return dir;
}

function options(labels: string, out: string, overrides: Partial<SelfTrainOptions> = {}): SelfTrainOptions {
  return { ...DEFAULT_SELFTRAIN_OPTIONS, config: micro, labels, out, steps: 4, batchSize: 2, ...overrides };
}

test("sseg selftrain train: trains on the labels, skips a bad one, resumes exactly, and the run segments", async (t) => {
  const root = await tempDir(t, "sseg-selftrain-");
  const labels = await labelledFolder(root);
  const whole = join(root, "whole");
  const summary = await selfTrain(options(labels, whole));
  assert.equal(summary.steps, 4);
  assert.match(summary.skippedSamples, /1 labelled image\(s\) skipped, e\.g\. img5: /);
  const log = await readLog(join(whole, "log.jsonl"));
  assert.deepEqual(Object.keys(log[0].losses), ["decode", "aux"]);
  assert.ok(log.every((r) => Number.isFinite(r.losses.decode) && r.losses.decode > 0));

  const split = join(root, "split");
  let steps = 0;
  const stopped = await selfTrain(
    options(labels, split, { onStep: () => steps++, shouldStop: () => steps >= 2 }),
  );
  assert.equal(stopped.stopReason, "interrupted");
  // a piece with other trajectory settings would not continue the run: refused, each difference named
  await assert.rejects(
    selfTrain(options(labels, split, { resume: true, batchSize: 3, photometric: true, maxMinutes: 5 })),
    (err: Error) =>
      /^--resume .*split: not the run's settings \(/.test(err.message) &&
      err.message.includes("batchSize 2 in the run, 3 now") &&
      err.message.includes("photometric unset in the run, true now") &&
      !err.message.includes("maxMinutes"),
  );
  await selfTrain(options(labels, split, { resume: true }));
  const [a, b] = [await loadCheckpoint(whole), await loadCheckpoint(split)];
  for (const [name, tensor] of a.model) assert.deepEqual(b.model.get(name)?.data, tensor.data, name);

  const segmenter = await loadSegmenter(whole);
  try {
    assert.ok(segmenter instanceof SelfTrainedSegmenter);
    assert.deepEqual(segmenter.classes, ["red", "blue"]);
    const image = { width: 40, height: 36, data: new Uint8Array(40 * 36 * 3).fill(90) };
    const result = await segmenter.segment(image, ["blue"]);
    assert.ok(result.labelMap.every((l) => l <= 1));
    await assert.rejects(segmenter.segment(image, ["cat"]), /"cat" is not a class of this S-Seg\+ model/);
    await assert.rejects(
      segmenter.segment(image, ["red"], { background: { noObject: true } }),
      /background is its trained "background" class, a threshold, or none/,
    );
    await assert.rejects(
      segmenter.segment(image, ["red"], { mode: "slide", crop: 16, stride: 32 }),
      /stride 32 is larger than crop 16/,
    );
  } finally {
    segmenter.dispose();
  }
});

test("sseg selftrain train --config takes a JSON configuration; an S-Seg one is refused by name", async (t) => {
  const root = await tempDir(t, "sseg-selftrain-json-");
  const labels = await labelledFolder(root);
  const config = join(root, "micro.json");
  await writeFile(config, JSON.stringify(micro));
  const run = (file: string, out: string) =>
    spawnSync(
      process.execPath,
      [
        MAIN,
        "selftrain",
        "train",
        "--labels",
        labels,
        "--config",
        file,
        "--out",
        join(root, out),
        "--steps",
        "1",
        "--batch-size",
        "2",
        "--photometric",
      ],
      { encoding: "utf8" },
    );
  const ok = run(config, "run");
  assert.equal(ok.status, 0, ok.stderr);
  const settings = JSON.parse(await readFile(join(root, "run", "config.json"), "utf8"));
  assert.deepEqual(settings.config.head, micro.head, "the run holds the file's configuration");
  assert.equal(settings.options.photometric, true, "--photometric reaches the run");
  const sseg = join(root, "sseg.json");
  await writeFile(sseg, JSON.stringify({ name: "tiny", imageSize: 128 }));
  const refused = run(sseg, "refused");
  assert.equal(refused.status, 1);
  assert.match(
    refused.stderr,
    /--config .*sseg\.json: not an S-Seg\+ configuration \(expected "architecture": "upernet"\)/,
  );
  const { head: _, ...headless } = micro;
  const incomplete = join(root, "incomplete.json");
  await writeFile(incomplete, JSON.stringify(headless));
  assert.match(
    run(incomplete, "incomplete").stderr,
    /incomplete\.json: the S-Seg\+ configuration lacks head/,
  );
});

test("--class-weights balanced reads labels.json and is recorded with the run; a wrong count is refused", async (t) => {
  const root = await tempDir(t, "sseg-selftrain-weights-");
  const labels = await labelledFolder(root);
  await writeFile(
    join(labels, "labels.json"),
    JSON.stringify({ pixels: { background: 0, red: 300, blue: 100 } }),
  );
  const out = join(root, "run");
  await selfTrain(options(labels, out, { steps: 1, classWeights: "balanced" }));
  const settings = JSON.parse(await readFile(join(out, "config.json"), "utf8"));
  assert.deepEqual(
    settings.options.classWeights,
    balancedClassWeights(["background", "red", "blue"], { red: 300, blue: 100 }),
  );
  await assert.rejects(
    selfTrain(options(labels, join(root, "bad"), { steps: 1, classWeights: [1, 2] })),
    /class weights: expected 3 non-negative numbers/,
  );
  const milder = join(root, "milder");
  await selfTrain(options(labels, milder, { steps: 1, classWeights: "balanced:0.25" }));
  assert.deepEqual(
    JSON.parse(await readFile(join(milder, "config.json"), "utf8")).options.classWeights,
    balancedClassWeights(["background", "red", "blue"], { red: 300, blue: 100 }, 0.25),
  );
  await assert.rejects(
    selfTrain(options(labels, join(root, "bad2"), { steps: 1, classWeights: "balanced:3" })),
    /expected "balanced" or "balanced:p" \(0 < p ≤ 1\), got "balanced:3"/,
  );
});

test("--photometric distorts the student's crops: recorded with the run, other weights after one step", async (t) => {
  const root = await tempDir(t, "sseg-selftrain-photometric-");
  const labels = await labelledFolder(root);
  const [plain, distorted] = [join(root, "plain"), join(root, "distorted")];
  await selfTrain(options(labels, plain, { steps: 1 }));
  await selfTrain(options(labels, distorted, { steps: 1, photometric: true }));
  const settings = JSON.parse(await readFile(join(distorted, "config.json"), "utf8"));
  assert.equal(settings.options.photometric, true);
  const [a, b] = [await loadCheckpoint(plain), await loadCheckpoint(distorted)];
  const differs = [...a.model].some(([name, tensor]) =>
    tensor.data.some((v, i) => v !== b.model.get(name)?.data[i]),
  );
  assert.ok(differs, "the distorted crops gave other gradients");
});

test("sseg selftrain train validates on a labelled set and keeps the best; a folder without background is refused", async (t) => {
  const root = await tempDir(t, "sseg-selftrain-val-");
  const labels = await labelledFolder(root);
  const out = join(root, "run");
  const summary = await selfTrain(options(labels, out, { steps: 2, val: labels, valEvery: 1, valLimit: 3 }));
  assert.equal(summary.lastValidation?.images, 3);
  assert.ok((summary.lastValidation?.miouWithBackground ?? -1) >= 0);
  const log = await readLog(join(out, "log.jsonl"));
  assert.equal(log.filter((r) => r.val).length, 2);
  await writeFile(join(labels, "classes.txt"), "red\nblue\n");
  await assert.rejects(selfTrain(options(labels, join(root, "bad"))), /the first class must be "background"/);
});

test("--pretrained loads a ViT checkpoint (MAE's names, decoder dropped) into the backbone; a wrong one is named", async (t) => {
  const root = await tempDir(t, "sseg-pretrained-");
  const { layerScale: _, outIndices: __, ...plain } = micro.backbone;
  const source = new VisionTransformer({ ...plain, dropPathRate: 0 }, { rng: new Rng(7) });
  const tensors: Record<string, TensorToWrite> = {
    mask_token: { shape: [1, 1, 16], data: new Float32Array(16) },
    "decoder_embed.weight": { shape: [8, 16], data: new Float32Array(128) },
  };
  for (const [name, v] of source.stateDict())
    tensors[name] = { shape: v.shape, data: v.dataSync() as Float32Array };
  const file = join(root, "mae.safetensors");
  await writeSafetensors(file, tensors);
  const model = new UperNet(micro, 3);
  const vit = model.backbone as VisionTransformer;
  await loadPretrainedBackbone(vit, file);
  const key = "blocks.1.attn.qkv.weight";
  assert.deepEqual(model.backbone.stateDict().get(key)?.dataSync(), source.stateDict().get(key)?.dataSync());
  assert.deepEqual(
    [...(model.backbone.stateDict().get("blocks.0.gamma_1")?.dataSync() ?? [])],
    Array(16).fill(1),
  );
  delete tensors["blocks.1.mlp.fc2.bias"];
  await writeSafetensors(file, tensors);
  await assert.rejects(
    loadPretrainedBackbone(vit, file),
    /not this backbone's weights: lacks blocks\.1\.mlp\.fc2\.bias/,
  );
  model.dispose();
  source.dispose();
});

test("tiny-mobilenet: S-Seg's pretrained MobileNetV2 under the UperNet head trains from its shipped weights", async (t) => {
  const root = await tempDir(t, "sseg-selftrain-mnv2-");
  const labels = await labelledFolder(root);
  const config: UperNetConfig = {
    ...upernetTinyMobileNet,
    imageSize: 32,
    head: { channels: 8, poolScales: [1, 2], dropout: 0.1 },
    auxiliary: { ...upernetTinyMobileNet.auxiliary, channels: 4 },
  };
  const out = join(root, "run");
  const summary = await selfTrain(options(labels, out, { config, steps: 2 }));
  assert.equal(summary.steps, 2);
  const saved = (await loadCheckpoint(out)).model;
  const pretrained = await readTensorFile(PRETRAINED_MOBILENET_FILE);
  // frozen BatchNorm statistics are buffers: the checkpoint carries nsfwjs's, untouched by training
  const key = "stem.bn.running_var";
  assert.deepEqual(saved.get(`backbone.trunk.${key}`)?.data, pretrained.get(key)?.data);
  await assert.rejects(
    selfTrain(options(labels, join(root, "bad"), { config, pretrained: "mae.pth" })),
    /--pretrained: the MobileNetV2 backbone starts from its shipped weights/,
  );
});
