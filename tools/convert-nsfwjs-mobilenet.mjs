#!/usr/bin/env node
// Converts the MobileNetV2 that ships inside the npm package nsfwjs (MIT, Infinite Red) into a safetensors file
// for src/model/mobilenet-v2.ts: its convolutional trunk under sseg's names and PyTorch layouts, classifier dropped.
//   npm run build                                    (this script writes through dist/src/io/safetensors-file.js)
//   npm pack nsfwjs@4.4.0 --pack-destination ..       → ../nsfwjs-4.4.0.tgz (no install, no dependency)
//   node tools/convert-nsfwjs-mobilenet.mjs ../nsfwjs-4.4.0.tgz --out ../models/mobilenet_v2_nsfwjs.safetensors
// The argument may also be the unpacked package folder. nsfwjs's default "MobileNetV2" model is a Keras 2.2.4
// MobileNetV2 (alpha 1.0, ImageNet-initialised, fine-tuned into a 5-class NSFW classifier), stored as a tfjs
// layers model with uint8-quantised weights, both embedded in browserify bundles (`*.min.js`, weights base64).
import { existsSync, readdirSync, readFileSync, statSync } from "node:fs";
import { basename, join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { runInNewContext } from "node:vm";
import { gunzipSync } from "node:zlib";
import * as tf from "@tensorflow/tfjs";
import tarStream from "tar-stream";

const MODEL_DIR = "dist/models/mobilenet_v2";
const PACKAGE_FILES = ["package.json", "LICENSE"];

/** Keras BatchNormalization weights → torch.nn.BatchNorm2d names. */
const BN_NAMES = {
  gamma: "weight",
  beta: "bias",
  moving_mean: "running_mean",
  moving_variance: "running_var",
};
/** Keras kernel layouts → PyTorch's: conv [kh, kw, Cin, Cout] → [Cout, Cin, kh, kw]; depthwise [kh, kw, C, 1] → [C, 1, kh, kw]. */
const CONV_TO_TORCH = [3, 2, 0, 1];
const DEPTHWISE_TO_TORCH = [2, 3, 0, 1];
/** nsfwjs's classifier on top of the trunk (pooling → dense 256 → 128 → 5): not converted. */
const CLASSIFIER = /^dense_\d+\//;

/**
 * The sseg name of a Keras MobileNetV2 weight and the permutation from Keras's layout to PyTorch's (null for
 * 1-d tensors), or null for the classifier. Keras's block_i is sseg's blocks.i (block 0 is Keras's
 * "expanded_conv"); Conv1 is the stem and Conv_1 the 1280-channel head. Unknown names are an error.
 */
export function kerasToSseg(kerasName) {
  if (CLASSIFIER.test(kerasName)) return null;
  const [layer, weight] = kerasName.split("/");
  const module = trunkModule(layer);
  if (module && weight === "kernel") return { name: `${module}.conv.weight`, permutation: CONV_TO_TORCH };
  if (module && weight === "depthwise_kernel")
    return { name: `${module}.conv.weight`, permutation: DEPTHWISE_TO_TORCH };
  if (module && weight in BN_NAMES) return { name: `${module}.bn.${BN_NAMES[weight]}`, permutation: null };
  throw new Error(`nsfwjs MobileNetV2: unknown weight "${kerasName}" (not a Keras MobileNetV2 trunk name)`);
}

function trunkModule(kerasLayer) {
  if (kerasLayer === "Conv1" || kerasLayer === "bn_Conv1") return "stem";
  if (kerasLayer === "Conv_1" || kerasLayer === "Conv_1_bn") return "head";
  const block = /^(?:expanded_conv|block_(\d+))_(expand|depthwise|project)(?:_BN)?$/.exec(kerasLayer);
  return block ? `blocks.${block[1] ?? 0}.${block[2]}` : null;
}

/** The package's files under modelDir (by file name) and its package.json and LICENSE, from its npm tarball or folder. */
async function readPackageFiles(path, modelDir) {
  if (!existsSync(path))
    throw new Error(
      `${path}: not found. Make it with: npm pack nsfwjs@4.4.0 (then pass the .tgz or its folder)`,
    );
  const nameOf = (inPackage) =>
    PACKAGE_FILES.includes(inPackage)
      ? inPackage
      : inPackage.startsWith(`${modelDir}/`)
        ? inPackage.slice(modelDir.length + 1)
        : null;
  const found = new Map();
  if (statSync(path).isDirectory()) {
    // npm pack's tarball unpacks into package/; accept that folder or its parent
    const root = existsSync(join(path, modelDir)) ? path : join(path, "package");
    const inModelDir = existsSync(join(root, modelDir)) ? readdirSync(join(root, modelDir)) : [];
    for (const inPackage of [...PACKAGE_FILES, ...inModelDir.map((f) => `${modelDir}/${f}`)]) {
      const file = join(root, inPackage);
      if (existsSync(file)) found.set(nameOf(inPackage), readFileSync(file));
    }
  } else {
    const extract = tarStream.extract();
    const done = new Promise((resolveDone, reject) => {
      extract.on("entry", (header, stream, next) => {
        const chunks = [];
        stream.on("data", (c) => chunks.push(c));
        stream.on("end", () => {
          const name = nameOf(header.name.replace(/^package\//, ""));
          if (name) found.set(name, Buffer.concat(chunks));
          next();
        });
        stream.resume();
      });
      extract.on("finish", resolveDone);
      extract.on("error", reject);
    });
    extract.end(gunzipSync(readFileSync(path)));
    await done;
  }
  const missing = [...PACKAGE_FILES, "model.min.js"].filter((f) => !found.has(f));
  if (missing.length > 0)
    throw new Error(
      `${path}: not the nsfwjs npm package: ${missing.join(", ")} missing (expected ${modelDir}/ inside it)`,
    );
  return found;
}

/**
 * What a browserify bundle exports. nsfwjs's model bundles are UMD modules whose only content is a data
 * literal (the model JSON, or the weights as base64); they run in an empty context: no require, no process.
 */
function bundleExports(source, filename) {
  const module = { exports: {} };
  runInNewContext(source, { module, exports: module.exports }, { filename, timeout: 30_000 });
  return module.exports;
}

/**
 * One of nsfwjs's models (`dist/models/<name>`) as tfjs would load it: topology, weight specs (uint8-quantised),
 * the weight bytes of all its shards in manifest order, and the package's version and licence.
 */
export async function readNsfwjsModel(path, modelDir) {
  const files = await readPackageFiles(resolve(path), modelDir);
  const modelJson = JSON.parse(
    JSON.stringify(bundleExports(files.get("model.min.js").toString("utf8"), "model.min.js")),
  );
  if (!modelJson.modelTopology || modelJson.weightsManifest?.length !== 1)
    throw new Error(`${path}: ${modelDir} does not hold a one-group tfjs model`);
  const shards = modelJson.weightsManifest[0].paths.map((shard) => {
    const file = `${shard}.min.js`;
    const base64 = files.has(file) ? bundleExports(files.get(file).toString("utf8"), file) : undefined;
    if (typeof base64 !== "string")
      throw new Error(`${path}: ${modelDir}/${file} missing or not a weight shard`);
    return Buffer.from(base64, "base64");
  });
  const pkg = JSON.parse(files.get("package.json").toString("utf8"));
  const licenseHolder = /Copyright \(c\) [^\n]+/.exec(files.get("LICENSE").toString("utf8"))?.[0] ?? "";
  return {
    modelTopology: modelJson.modelTopology,
    weightSpecs: modelJson.weightsManifest[0].weights,
    weightData: new Uint8Array(Buffer.concat(shards)).buffer,
    version: pkg.version,
    license: `${pkg.license} (${licenseHolder})`,
  };
}

/** nsfwjs's default MobileNetV2 (a tfjs layers model with one weight shard). */
export function readNsfwjsMobileNet(path) {
  return readNsfwjsModel(path, MODEL_DIR);
}

/** Keras weights (name → tensor) → sseg's trunk state dict (name → {shape, data}): stem, blocks in order, head. */
export function toSsegTrunk(kerasWeights) {
  const trunk = new Map();
  for (const [kerasName, tensor] of Object.entries(kerasWeights)) {
    const target = kerasToSseg(kerasName);
    if (!target) continue;
    if (trunk.has(target.name)) throw new Error(`nsfwjs MobileNetV2: two weights map to "${target.name}"`);
    const torchLayout = target.permutation ? tf.transpose(tensor, target.permutation) : tensor;
    trunk.set(target.name, { shape: torchLayout.shape, data: torchLayout.dataSync() });
    if (torchLayout !== tensor) torchLayout.dispose();
  }
  const position = (name) =>
    name.startsWith("stem.") ? -1 : name.startsWith("head.") ? Infinity : Number(name.split(".")[1]);
  return Object.fromEntries([...trunk].sort(([a], [b]) => position(a) - position(b)));
}

async function main() {
  const { values, positionals } = parseArgs({
    options: { out: { type: "string", default: "mobilenet_v2_nsfwjs.safetensors" } },
    allowPositionals: true,
  });
  if (positionals.length !== 1) {
    console.error(
      "usage: node tools/convert-nsfwjs-mobilenet.mjs <nsfwjs-4.4.0.tgz | package folder> [--out file]",
    );
    process.exit(2);
  }
  const [input] = positionals;
  const out = values.out;
  const distSafetensors = new URL("../dist/src/io/safetensors-file.js", import.meta.url);
  if (!existsSync(fileURLToPath(distSafetensors))) {
    console.error("convert-nsfwjs-mobilenet: dist/ is missing; run `npm run build` first");
    process.exit(1);
  }
  const { writeSafetensors } = await import(distSafetensors.href);
  const model = await readNsfwjsMobileNet(input);
  await tf.ready();
  tf.backend().firstUse = false; // tfjs's advert for tfjs-node, which sseg does not use
  // tfjs's own decoder, so the values are exactly the dequantised weights nsfwjs runs with
  const keras = tf.io.decodeWeights(model.weightData, model.weightSpecs);
  const trunk = toSsegTrunk(keras);
  await writeSafetensors(out, trunk, {
    format: "sseg MobileNetV2 trunk (src/model/mobilenet-v2.ts): PyTorch layouts, BatchNorm eps 1e-3",
    source: `npm nsfwjs@${model.version}, ${MODEL_DIR} (model "MobileNetV2"): Keras MobileNetV2 alpha 1.0, ImageNet-initialised, fine-tuned as an NSFW classifier; classifier layers dropped`,
    version: model.version,
    license: model.license,
    preprocessing:
      "RGB pixels / 255 (values in [0, 1]), as nsfwjs's infer(); nsfwjs also resizes to 224×224 (bilinear, align corners)",
    quantization: "uint8 affine per tensor in nsfwjs, dequantised here with tfjs's decodeWeights",
  });
  const count = Object.values(trunk).reduce((n, t) => n + t.data.length, 0);
  const bytes = statSync(out).size;
  console.log(
    `${basename(out)}: ${Object.keys(trunk).length} tensors, ${count} values, ${(bytes / 1e6).toFixed(1)} MB (nsfwjs ${model.version})`,
  );
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  main().catch((err) => {
    console.error(`convert-nsfwjs-mobilenet: ${err.message}`);
    process.exit(1);
  });
}
