import { basename, join, resolve } from "node:path";
import type { Command } from "commander";
import { openSegmentationDataset } from "../data/datasets.js";
import { initEngine } from "../engine/backend.js";
import { OracleScore } from "../eval/oracle.js";
import { writeFileAtomic } from "../io/atomic.js";
import { readImage, writeImage } from "../io/image.js";
import { renderOverlay, writeLabelPng } from "../io/label-png.js";
import { mmsegRescaleSize, resizeBilinear, resizeNearest } from "../io/pixels.js";
import { FEATURE_SOURCES, MaskCache, openFeatureSource, pseudoMasks } from "../pseudo/index.js";
import { nonNegativeInteger, positiveInteger } from "./flags.js";
import { eachImage, listImages } from "./inputs.js";

interface PseudoOptions {
  oracle?: string;
  dataset: string;
  split: string;
  features: string;
  k: string;
  size: string;
  seed: string;
  out: string;
  cache?: string;
}

export function registerPseudo(program: Command): void {
  program
    .command("pseudo")
    .description(
      "make class-agnostic pseudo-masks: frozen features + per-image K-Means (writes cluster overlays)",
    )
    .argument("[images...]", "image files or folders")
    .option("-f, --features <source>", `feature source: ${FEATURE_SOURCES.join(" | ")}`, "auto")
    .option("-k, --k <n>", "clusters per image", "8")
    .option("--size <n>", "short side the image is resized to before clustering", "224")
    .option("--seed <n>", "k-means++ seed", "0")
    .option("-o, --out <dir>", "output folder", "out/pseudo")
    .option(
      "--cache <dir>",
      "reuse cluster grids from earlier runs (keyed by image pixels, features, K, seed)",
    )
    .option(
      "--oracle <dir>",
      "score the masks on a VOC-layout set: each mask takes its best ground-truth class",
    )
    .option(
      "--dataset <name>",
      "with --oracle: voc | context | coco-object | folder (VOC layout + classes.txt)",
      "folder",
    )
    .option("--split <name>", "with --oracle: the split to score", "val")
    .action((images: string[], options: PseudoOptions) =>
      options.oracle ? runOracle(options.oracle, options) : runPseudo(images, options),
    );
}

/** Pseudo-masks of every image of a VOC-layout set at the clustering size, upsampled to the label's size. */
async function runOracle(root: string, options: PseudoOptions): Promise<void> {
  const k = positiveInteger(options.k, "--k");
  const shortSide = positiveInteger(options.size, "--size");
  if (options.dataset === "voc20" || options.dataset === "context59")
    throw new Error(
      `--dataset ${options.dataset}: use ${options.dataset.replace(/\d+$/, "")}; the oracle reports both with and without background`,
    );
  const set = await openSegmentationDataset(options.dataset, root, { split: options.split });
  await initEngine();
  const source = await openFeatureSource(options.features, {
    seed: nonNegativeInteger(options.seed, "--seed"),
  });
  const score = new OracleScore(set.classes.length);
  const cache = options.cache ? new MaskCache(options.cache) : undefined;
  const started = performance.now();
  for (const [i, id] of set.ids.entries()) {
    const original = await readImage(set.imagePath(id));
    const gt = await set.readLabel(id);
    if (gt.width !== original.width || gt.height !== original.height)
      throw new Error(
        `${set.labelPath(id)}: label is ${gt.width}×${gt.height} but the image is ${original.width}×${original.height}`,
      );
    const size = mmsegRescaleSize(original.width, original.height, { shortSide, longSide: 4 * shortSide });
    const masks = pseudoMasks(source, resizeBilinear(original, size.width, size.height), {
      k,
      seed: nonNegativeInteger(options.seed, "--seed"),
      cache,
    });
    score.add(resizeNearest(masks.labelMap, masks.width, masks.height, gt.width, gt.height), gt.labels);
    if ((i + 1) % 50 === 0) console.log(`${i + 1}/${set.ids.length} images`);
  }
  const { withBackground, withoutBackground } = score.metrics();
  const seconds = (performance.now() - started) / 1000;
  const result = {
    features: source.name,
    k,
    shortSide,
    dataset: set.name,
    root: set.root,
    split: options.split,
    images: set.ids.length,
    miouWithBackground: withBackground.miou,
    miouWithoutBackground: withoutBackground.miou,
    aAcc: withBackground.aAcc,
    seconds,
  };
  console.log(`| features | K | images | oracle mIoU with background | without background |`);
  console.log(`| --- | --- | --- | --- | --- |`);
  console.log(
    `| ${source.name} | ${k} | ${set.ids.length} | ${(100 * withBackground.miou).toFixed(1)} | ${(100 * withoutBackground.miou).toFixed(1)} |`,
  );
  if (cache) console.log(cacheLine(cache));
  await writeFileAtomic(join(options.out, "oracle.json"), `${JSON.stringify(result, null, 2)}\n`);
  source.dispose();
}

async function runPseudo(inputs: string[], options: PseudoOptions): Promise<void> {
  if (inputs.length === 0)
    throw new Error("sseg pseudo: give image files or folders, or --oracle <VOC-layout folder>");
  const k = positiveInteger(options.k, "--k");
  const shortSide = positiveInteger(options.size, "--size");
  const seed = nonNegativeInteger(options.seed, "--seed");
  const files = await listImages(inputs);
  await initEngine();
  const source = await openFeatureSource(options.features, { seed });
  console.log(
    `sseg pseudo · features ${source.name} · K = ${k} · short side ${shortSide} · ${files.length} image(s)`,
  );
  const cache = options.cache ? new MaskCache(options.cache) : undefined;
  const { results: summary, failures } = await eachImage(
    "pseudo",
    files,
    async (file, stem) => {
      const started = performance.now();
      const original = await readImage(file);
      const size = mmsegRescaleSize(original.width, original.height, { shortSide, longSide: 4 * shortSide });
      const image = resizeBilinear(original, size.width, size.height);
      const result = pseudoMasks(source, image, { k, seed, cache });
      await writeLabelPng(
        join(options.out, `${stem}.clusters.png`),
        result.labelMap,
        result.width,
        result.height,
      );
      await writeImage(
        join(options.out, `${stem}.overlay.png`),
        await renderOverlay(image, result.labelMap, { alpha: 0.55 }),
      );
      const seconds = (performance.now() - started) / 1000;
      console.log(
        `${basename(file)} (${image.width}×${image.height}, ${seconds.toFixed(2)} s): ${result.masks.length} masks`,
      );
      return { image: file, width: image.width, height: image.height, masks: result.masks.length, seconds };
    },
    (line) => console.log(line),
  );
  await writeFileAtomic(
    join(options.out, "summary.json"),
    `${JSON.stringify({ features: source.name, k, shortSide, results: summary, failures }, null, 2)}\n`,
  );
  console.log(`\nwrote ${summary.length} cluster label PNG(s) and overlays to ${resolve(options.out)}`);
  if (cache) console.log(cacheLine(cache));
  source.dispose();
}

function cacheLine(cache: MaskCache): string {
  return `mask cache ${cache.dir}: ${cache.hits} reused, ${cache.misses} computed`;
}
