#!/usr/bin/env node
/**
 * How well a frozen pretrained trunk alone tells the composite classes apart, at a given input size: the
 * ceiling a frozen-backbone naming recipe works under. Each object's features are the trunk's maps of the whole
 * image (resized to --size², as training does) averaged over the object's box; a validation object is called by
 * the nearest class mean (cosine) of the training objects. Training objects come from the composite shards'
 * `.json` (stamps with a class), validation objects from the label maps (one box per class present).
 * The trunk is sseg's MobileNetV2 (its stride-16 and stride-32 maps), or with --nsfwjs another model of the
 * nsfwjs package run by tfjs as it ships (RGB / 255 input, as nsfwjs feeds it), at the layers --layers names.
 *
 *   node tools/backbone-probe.mjs --train 'data/composites/train/00000.tar' --val data/composites/val --size 128
 *   node tools/backbone-probe.mjs --size 299 --nsfwjs ../nsfwjs-4.4.0.tgz --model inception_v3 \
 *     --layers mixed2,mixed5,mixed7,mixed10
 */
import { parseArgs } from "node:util";
import * as tf from "@tensorflow/tfjs";
import { openSegmentationDataset } from "../dist/src/data/datasets.js";
import { openPairSource } from "../dist/src/data/pairs.js";
import { normalizeImage } from "../dist/src/data/preprocess.js";
import { initEngine } from "../dist/src/engine/backend.js";
import { readImage } from "../dist/src/io/image.js";
import { resizeBilinear } from "../dist/src/io/pixels.js";
import { PRETRAINED_MOBILENET_FILE, readTensorFile } from "../dist/src/model/files.js";
import { MobileNetBackbone } from "../dist/src/model/mobilenet-backbone.js";
import { readNsfwjsModel } from "./convert-nsfwjs-mobilenet.mjs";

const { values } = parseArgs({
  options: {
    train: { type: "string", default: "data/composites/train/00000.tar" },
    val: { type: "string", default: "data/composites/val" },
    size: { type: "string", default: "128" },
    nsfwjs: { type: "string" },
    model: { type: "string", default: "inception_v3" },
    layers: { type: "string", default: "mixed2,mixed5,mixed7,mixed10" },
  },
});
const size = Number(values.size);
// sseg's MobileNetV2 needs whole stride-32 cells; nsfwjs's Keras models take any size down to InceptionV3's minimum, 75
const sizeRule = values.nsfwjs
  ? { ok: size >= 75, text: "at least 75" }
  : { ok: size % 32 === 0, text: "a multiple of 32" };
if (!Number.isInteger(size) || size < 32 || !sizeRule.ok)
  throw new Error(`--size: expected ${sizeRule.text}, got ${values.size}`);

await initEngine();
const trunk = values.nsfwjs ? await nsfwjsTrunk() : await mobileNetTrunk();

/** sseg's MobileNetV2 with the shipped weights: the stride-16 and stride-32 maps. */
async function mobileNetTrunk() {
  const backbone = new MobileNetBackbone({ kind: "mobilenet_v2", pretrained: true, lrScale: 0 });
  backbone.trunk.loadStateDict(await readTensorFile(PRETRAINED_MOBILENET_FILE));
  return {
    title: "MobileNetV2 (frozen, nsfwjs)",
    levels: ["res4", "res5"],
    forward(rgb) {
      const input = tf.tensor4d(normalizeImage(rgb), [1, size, size, 3]);
      const maps = backbone.forward(input);
      input.dispose();
      return maps;
    },
  };
}

/**
 * An nsfwjs layers model as it ships, cut after the --layers it names (their outputs by name): its classifier,
 * built for the training size, would not take another input size, and a convolutional trunk takes any.
 */
async function nsfwjsTrunk() {
  const { modelTopology, weightSpecs, weightData } = await readNsfwjsModel(
    values.nsfwjs,
    `dist/models/${values.model}`,
  );
  const levels = values.layers.split(",");
  const graph = modelTopology.model_config.config;
  const byName = new Map(graph.layers.map((layer) => [layer.name, layer]));
  const needed = new Set();
  const pending = [...levels];
  while (pending.length > 0) {
    const name = pending.pop();
    if (needed.has(name)) continue;
    const layer = byName.get(name);
    if (!layer) throw new Error(`--layers: nsfwjs ${values.model} has no layer "${name}"`);
    needed.add(name);
    for (const node of layer.inbound_nodes) pending.push(...node.map(([inbound]) => inbound));
  }
  graph.layers = graph.layers.filter((layer) => needed.has(layer.name));
  graph.output_layers = levels.map((name) => [name, 0, 0]);
  for (const layer of graph.layers) {
    if (layer.class_name === "InputLayer") layer.config.batch_input_shape = [null, size, size, 3];
  }
  const model = await tf.models.modelFromJSON({ modelTopology });
  model.loadWeights(tf.io.decodeWeights(weightData, weightSpecs), false);
  return {
    title: `nsfwjs ${values.model} (frozen)`,
    levels,
    forward(rgb) {
      const input = tf.tidy(() => tf.tensor4d(Float32Array.from(rgb), [1, size, size, 3]).div(255));
      const maps = [model.predict(input)].flat();
      input.dispose();
      return Object.fromEntries(levels.map((name, i) => [name, maps[i]]));
    },
  };
}

/** Per stride, the L2-normalised mean feature over each box ([x0, y0, x1, y1] as fractions of the image). */
function boxFeatures(image, boxes) {
  const maps = trunk.forward(resizeBilinear(image, size, size).data);
  const result = boxes.map(() => ({}));
  for (const name of trunk.levels) {
    const [, h, w, c] = maps[name].shape;
    const data = maps[name].dataSync();
    boxes.forEach(([x0, y0, x1, y1], i) => {
      const sum = new Float64Array(c);
      let cells = 0;
      for (let y = 0; y < h; y++) {
        for (let x = 0; x < w; x++) {
          const [cx, cy] = [(x + 0.5) / w, (y + 0.5) / h];
          if (cx < x0 || cx > x1 || cy < y0 || cy > y1) continue;
          for (let k = 0; k < c; k++) sum[k] += data[(y * w + x) * c + k];
          cells++;
        }
      }
      if (cells === 0) {
        // A box smaller than one cell: the cell under its centre.
        const [x, y] = [
          Math.min(w - 1, Math.floor(((x0 + x1) / 2) * w)),
          Math.min(h - 1, Math.floor(((y0 + y1) / 2) * h)),
        ];
        for (let k = 0; k < c; k++) sum[k] = data[(y * w + x) * c + k];
      }
      const norm = Math.hypot(...sum) || 1;
      result[i][name] = Float32Array.from(sum, (v) => v / norm);
    });
  }
  tf.dispose(Object.values(maps));
  return result;
}

const trainObjects = [];
for await (const { image, meta } of await openPairSource(values.train)) {
  const objects = (meta?.objects ?? []).filter((o) => o.class);
  const boxes = objects.map(({ box: [x, y, bw, bh] }) => [
    Math.max(0, x) / image.width,
    Math.max(0, y) / image.height,
    Math.min(image.width, x + bw) / image.width,
    Math.min(image.height, y + bh) / image.height,
  ]);
  for (const [i, features] of boxFeatures(image, boxes).entries()) {
    trainObjects.push({ label: objects[i].class, features });
  }
}

const val = await openSegmentationDataset("folder", values.val);
const valObjects = [];
for (const id of val.ids) {
  const [image, { width, height, labels }] = await Promise.all([
    readImage(val.imagePath(id)),
    val.readLabel(id),
  ]);
  const extent = new Map();
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const label = labels[y * width + x];
      if (label === 0 || label === val.ignoreIndex) continue;
      const e = extent.get(label) ?? [x, y, x, y];
      extent.set(label, [Math.min(e[0], x), Math.min(e[1], y), Math.max(e[2], x + 1), Math.max(e[3], y + 1)]);
    }
  }
  const entries = [...extent];
  const boxes = entries.map(([, [x0, y0, x1, y1]]) => [x0 / width, y0 / height, x1 / width, y1 / height]);
  for (const [i, features] of boxFeatures(image, boxes).entries()) {
    valObjects.push({ label: val.classes[entries[i][0]], features });
  }
}

const classes = [...new Set(trainObjects.map((o) => o.label))].sort();
console.log(
  `${trunk.title} at ${size}²: ${trainObjects.length} training objects from ${values.train}, ` +
    `${valObjects.length} validation objects, ${classes.length} classes`,
);
for (const name of trunk.levels) {
  const centroids = classes.map((label) => {
    const members = trainObjects.filter((o) => o.label === label);
    const mean = new Float32Array(members[0].features[name].length);
    for (const m of members) {
      for (const [k, v] of m.features[name].entries()) mean[k] += v / members.length;
    }
    return mean;
  });
  const correct = new Map(classes.map((c) => [c, [0, 0]]));
  for (const { label, features } of valObjects) {
    if (!correct.has(label)) continue;
    const scores = centroids.map((c) => c.reduce((s, v, k) => s + v * features[name][k], 0));
    const best = classes[scores.indexOf(Math.max(...scores))];
    const tally = correct.get(label);
    tally[0] += best === label ? 1 : 0;
    tally[1] += 1;
  }
  const tallies = [...correct.values()].filter(([, n]) => n > 0);
  const perClass = tallies.map(([hit, n]) => hit / n);
  const overall = tallies.reduce((s, [hit]) => s + hit, 0) / tallies.reduce((s, [, n]) => s + n, 0);
  const mean = perClass.reduce((a, b) => a + b, 0) / perClass.length;
  console.log(
    `${name}: nearest class mean, accuracy ${(100 * overall).toFixed(1)} % of objects, ` +
      `${(100 * mean).toFixed(1)} % mean over classes; per class: ` +
      [...correct].map(([c, [hit, n]]) => `${c} ${hit}/${n}`).join(", "),
  );
}
