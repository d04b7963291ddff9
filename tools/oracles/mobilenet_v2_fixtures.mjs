#!/usr/bin/env node
// References for src/model/mobilenet-v2.ts from the original: nsfwjs's own Keras MobileNetV2 graph, run by
// TensorFlow.js's layers API (tf.loadLayersModel with an in-memory IOHandler, tfjs's stock cpu kernels).
//   npm run build && npm pack nsfwjs@4.4.0 --pack-destination ..
//   node tools/oracles/mobilenet_v2_fixtures.mjs ../nsfwjs-4.4.0.tgz  → test/fixtures/model/mobilenet_v2.safetensors
// The graph is nsfwjs's layer list up to out_relu (the classifier dropped), its input size freed from 224² and
// its outputs at the ends of the stride-8 (block_5_add) and stride-16 (block_12_add) stages and out_relu.
// Weights: the full-size trunk (2.26M values, 9 MB) is too big to commit, so the main reference uses generated
// weights, offset + scale · u with u ∈ [-1, 1) from the counter hash test/support/fixtures.ts reproduces bit for
// bit; config.weights lists each sseg key with its shape, offset and scale. One output of the real nsfwjs
// weights (stride 8, 64×64) is stored too, for the test that runs when the converted file is at hand.
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import * as tf from "@tensorflow/tfjs";
import { kerasToSseg, readNsfwjsMobileNet } from "../convert-nsfwjs-mobilenet.mjs";

const OUT = new URL("../../test/fixtures/model/mobilenet_v2.safetensors", import.meta.url);
/** Keras layer at the end of each output stride's stage. */
const OUTPUTS = { stride8: "block_5_add", stride16: "block_12_add", stride32: "out_relu" };
const CASES = { "64x64": [64, 64], "48x80": [48, 80] };

/** test/support/fixtures.ts's counterUniform: u_i ∈ [-1, 1) from murmur3's fmix32 of (i + seed·φ). */
function counterUniform(seed, n) {
  const out = new Float64Array(n);
  const start = Math.imul(seed, 0x9e3779b9) >>> 0;
  for (let i = 0; i < n; i++) {
    let x = (i + start) >>> 0;
    x ^= x >>> 16;
    x = Math.imul(x, 0x85ebca6b) >>> 0;
    x ^= x >>> 13;
    x = Math.imul(x, 0xc2b2ae35) >>> 0;
    x ^= x >>> 16;
    out[i] = ((x >>> 0) / 4294967296) * 2 - 1;
  }
  return out;
}

/**
 * Offset and scale of a generated weight: uniform convs of variance 5 / (3 · fan-in), enough for ReLU6's clamp at 6
 * to be reached by the head, and BatchNorm near identity with a positive variance.
 */
function generatorRange(name, shape) {
  if (name.endsWith(".conv.weight")) return [0, Math.sqrt(5 / shape.slice(1).reduce((a, b) => a * b, 1))];
  if (name.endsWith(".bn.weight")) return [1, 0.25];
  if (name.endsWith(".bn.running_var")) return [1, 0.5];
  return [0, 0.2]; // bn.bias, bn.running_mean
}

/** A synthetic RGB image: horizontal and vertical ramps plus a diagonal stripe pattern. */
function gradientImage(height, width) {
  const data = new Uint8Array(height * width * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const p = (y * width + x) * 3;
      data[p] = Math.round((255 * x) / (width - 1));
      data[p + 1] = Math.round((255 * y) / (height - 1));
      data[p + 2] = ((x + 2 * y) * 23) % 256;
    }
  }
  return data;
}

/** nsfwjs's model topology cut at out_relu, any input size, outputs at the three stage ends. */
function trunkTopology(modelTopology) {
  const config = structuredClone(modelTopology.model_config);
  const layers = config.config.layers;
  config.config.layers = layers.slice(0, layers.findIndex((l) => l.name === OUTPUTS.stride32) + 1);
  config.config.layers[0].config.batch_input_shape = [null, null, null, 3];
  config.config.output_layers = Object.values(OUTPUTS).map((name) => [name, 0, 0]);
  return { model_config: config };
}

async function loadTrunk(modelTopology, weightSpecs, weightData) {
  // strict: false lets the real weights keep their classifier tensors, which this graph does not have
  return tf.loadLayersModel(
    { load: async () => ({ modelTopology, weightSpecs, weightData }) },
    { strict: false },
  );
}

/** Generated weights for every trunk key: the manifest (sseg names, PyTorch shapes) and the Keras-layout tensors. */
function generatedWeights(weightSpecs) {
  const manifest = [];
  const keras = {};
  for (const spec of weightSpecs) {
    const target = kerasToSseg(spec.name);
    if (!target) continue;
    const torchShape = target.permutation ? target.permutation.map((axis) => spec.shape[axis]) : spec.shape;
    const [offset, scale] = generatorRange(target.name, torchShape);
    manifest.push([target.name, torchShape, offset, scale]);
    const u = counterUniform(
      manifest.length,
      torchShape.reduce((a, b) => a * b, 1),
    );
    const values = tf.tensor(
      Float32Array.from(u, (v) => offset + scale * v),
      torchShape,
    );
    const toKeras = target.permutation?.map((_, i) => target.permutation.indexOf(i));
    keras[spec.name] = toKeras ? values.transpose(toKeras) : values;
  }
  return { manifest, keras };
}

function describe(t) {
  const v = t.dataSync();
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  const std = Math.sqrt(v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length);
  const percent = (count) => `${((100 * count) / v.length).toFixed(0)}%`;
  const clamped = `zeros ${percent(v.filter((x) => x === 0).length)}, sixes ${percent(v.filter((x) => x === 6).length)}`;
  return `[${t.shape}] mean ${mean.toFixed(3)} std ${std.toFixed(3)} ${clamped}`;
}

async function main() {
  const input = process.argv[2];
  if (!input) {
    console.error("usage: node tools/oracles/mobilenet_v2_fixtures.mjs <nsfwjs-4.4.0.tgz | package folder>");
    process.exit(2);
  }
  const distSafetensors = new URL("../../dist/src/io/safetensors-file.js", import.meta.url);
  if (!existsSync(fileURLToPath(distSafetensors)))
    throw new Error("dist/ is missing; run `npm run build` first");
  const { writeSafetensors } = await import(distSafetensors.href);
  await tf.ready();
  tf.backend().firstUse = false; // tfjs's advert for tfjs-node, which sseg does not use
  const nsfwjs = await readNsfwjsMobileNet(input);
  const topology = trunkTopology(nsfwjs.modelTopology);

  const { manifest, keras } = generatedWeights(nsfwjs.weightSpecs);
  const encoded = await tf.io.encodeWeights(keras);
  const generated = await loadTrunk(topology, encoded.specs, encoded.data);
  const real = await loadTrunk(topology, nsfwjs.weightSpecs, nsfwjs.weightData);

  const tensors = { generator_check: { shape: [8], data: Float32Array.from(counterUniform(1, 8)) } };
  for (const [name, [height, width]] of Object.entries(CASES)) {
    const pixels = gradientImage(height, width);
    tensors[`input.${name}`] = { shape: [1, height, width, 3], data: pixels };
    const x = tf.tensor4d(pixels, [1, height, width, 3], "int32").cast("float32").div(255); // nsfwjs's infer()
    const outputs = generated.predict(x);
    for (const [i, key] of Object.keys(OUTPUTS).entries()) {
      tensors[`${key}.${name}`] = { shape: outputs[i].shape, data: outputs[i].dataSync() };
      console.log(`${key}.${name}: ${describe(outputs[i])}`);
    }
    if (name === "64x64") {
      const [stride8] = real.predict(x);
      tensors[`real.stride8.${name}`] = { shape: stride8.shape, data: stride8.dataSync() };
      console.log(`real.stride8.${name}: ${describe(stride8)}`);
    }
  }
  const config = {
    weights: manifest,
    cases: CASES,
    outputs: OUTPUTS,
    nsfwjs: nsfwjs.version,
    tfjs: tf.version.tfjs,
  };
  await writeSafetensors(fileURLToPath(OUT), tensors, { config: JSON.stringify(config) });
  console.log(`wrote ${fileURLToPath(OUT)}`);
}

main().catch((err) => {
  console.error(`mobilenet_v2_fixtures: ${err.stack}`);
  process.exit(1);
});
