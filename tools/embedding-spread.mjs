#!/usr/bin/env node
// How far apart a model's embeddings are across one training batch: a diagnostic for a contrastive loss stuck at
// ln B (docs/training.md). For a checkpoint and, as a control, the untrained model of the same configuration, in
// train and eval mode: mean cosine of the queries within an image, of the mean query across images, of the
// projected image embeddings and of the caption embeddings across the batch, the in-batch image→text top-1, and
// the spread of the logits. For a model with a region head (the naming recipe, docs/naming.md) a second table:
// the caption nouns' embeddings across the batch, the regions within an image, the mean presence of the nouns a
// caption names against the others, the no-object class's mean probability, and the image-level noun top-1.
// Needs a build (`npx tsc -p .`).
//
//   node tools/embedding-spread.mjs <run or checkpoint> '<pairs: shards or captions file>' [--batch 32] [--seed 7]
import { parseArgs } from "node:util";
import * as tf from "@tensorflow/tfjs";
import { catalogNouns, debianCatalog } from "../dist/src/data/composites/catalog.js";
import { NounLexicon } from "../dist/src/data/nouns.js";
import { openPairSource } from "../dist/src/data/pairs.js";
import { initEngine } from "../dist/src/engine/backend.js";
import { SSegModel } from "../dist/src/model/sseg.js";
import { meanPairwiseCosine } from "../dist/src/nn/normalize.js";
import { openFeatureSource } from "../dist/src/pseudo/index.js";
import { ClipTokenizer } from "../dist/src/text/tokenizer.js";
import { trainingBatches } from "../dist/src/train/batches.js";
import { regionNounProbabilities } from "../dist/src/train/losses.js";
import { batchTensors, namingStats } from "../dist/src/train/objective.js";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { batch: { type: "string", default: "32" }, seed: { type: "string", default: "7" } },
});
if (positionals.length !== 2) {
  console.error(
    "usage: node tools/embedding-spread.mjs <run or checkpoint> '<pairs>' [--batch 32] [--seed 7]",
  );
  process.exit(2);
}
const [checkpoint, data] = positionals;
const [batchSize, seed] = [Number(values.batch), Number(values.seed)];
await initEngine();
const { model: trained } = await SSegModel.fromCheckpoint(checkpoint);
const pairs = await openPairSource(data, { seed, shuffleShards: true, shuffleBuffer: 1000 });
const batches = trainingBatches(pairs, await ClipTokenizer.load(), {
  batchSize,
  size: trained.config.imageSize,
  maskStride: 4,
  scale: [0.5, 1],
  features: await openFeatureSource("rgb", { seed: 0 }),
  k: 8,
  seed,
  nouns: trained.regionHead ? new NounLexicon(catalogNouns(debianCatalog())) : undefined,
});
const inputs = batchTensors((await batches.next()).value);

const meanOffDiagonalCosine = (rows) => meanPairwiseCosine(rows).dataSync()[0];
const unit = (x) => x.div(x.norm("euclidean", -1, true));

const rowsOut = [];
for (const [label, model] of [
  ["untrained", new SSegModel(trained.config)],
  [checkpoint, trained],
]) {
  for (const mode of ["train", "eval"]) {
    model.train(mode === "train");
    rowsOut.push(
      tf.tidy(() => {
        const queries = model.forwardImages(inputs.images, { auxiliary: false }).queryEmbeddings; // [B, Q, D]
        const within = tf.mean(meanPairwiseCosine(unit(queries))).dataSync()[0];
        const image = model.imageEmbedding(queries);
        const text = model.textEmbedding(inputs.tokens);
        const logits = image.matMul(text, false, true).mul(model.logitScale.scale());
        const top1 = tf
          .equal(logits.argMax(1), tf.range(0, batchSize, 1, "int32"))
          .sum()
          .dataSync()[0];
        const cell = (x) => x.toFixed(3);
        return `| ${label} | ${mode} | ${cell(within)} | ${cell(meanOffDiagonalCosine(unit(queries.mean(1))))} | ${cell(meanOffDiagonalCosine(image))} | ${cell(meanOffDiagonalCosine(text))} | ${top1}/${batchSize} | ${cell(tf.moments(logits).variance.sqrt().dataSync()[0])} |`;
      }),
    );
  }
}
const nounRows = [];
if (trained.regionHead && inputs.nouns) {
  for (const [label, model] of [
    ["untrained", new SSegModel(trained.config)],
    [checkpoint, trained],
  ]) {
    model.train();
    nounRows.push(
      tf.tidy(() => {
        const regions = model.forwardImages(inputs.images, { auxiliary: false }).regionEmbeddings; // [B, Q, E]
        const nouns = model
          .textEmbedding(tf.concat([inputs.tokens, inputs.nouns.tokens]))
          .slice([batchSize, 0], [-1, -1]); // as the objective encodes them
        const candidates = tf.concat([nouns, model.regionHead.noObjectEmbedding()]);
        const probabilities = regionNounProbabilities(
          regions,
          candidates,
          model.regionHead.logitScale.scale(),
        );
        const stats = namingStats(probabilities, nouns, inputs.nouns.targets);
        const within = tf.mean(meanPairwiseCosine(regions)).dataSync()[0];
        const cell = (x) => x.toFixed(3);
        return `| ${label} | ${nouns.shape[0]} | ${cell(stats.nounCosine)} | ${cell(within)} | ${cell(stats.named)} / ${cell(stats.other)} | ${cell(stats.noObject)} | ${Math.round(stats.top1 * batchSize)}/${batchSize} |`;
      }),
    );
  }
}

console.log(
  "| model | mode | queries within an image | mean query across images | image embeddings across | caption embeddings across | image→text top-1 | logit std |",
);
console.log("| --- | --- | --- | --- | --- | --- | --- | --- |");
for (const row of rowsOut) console.log(row);
if (nounRows.length > 0) {
  console.log(
    "\n| model (train mode) | batch nouns | noun embeddings across | regions within an image | presence: named / other nouns | no-object probability | noun top-1 |",
  );
  console.log("| --- | --- | --- | --- | --- | --- | --- |");
  for (const row of nounRows) console.log(row);
}
process.exit(0);
