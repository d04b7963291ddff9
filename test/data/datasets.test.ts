import assert from "node:assert/strict";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";
import sharp from "sharp";
import { DATASET_NAMES, openSegmentationDataset, type SegmentationDataset } from "../../src/data/datasets.js";
import { DataError } from "../../src/data/pairs.js";
import { IoUAccumulator } from "../../src/eval/miou.js";
import { writeLabelPng } from "../../src/io/label-png.js";
import { ImageError } from "../../src/io/pixels.js";
import { assertRejectsWith } from "../support/errors.js";

const WIDTH = 4;
const HEIGHT = 3;

/** Two 4×3 label maps per layout, covering background (0), the last class and ignore (255). */
const VOC_LABELS: Record<string, number[]> = {
  "2007_000033": [0, 0, 1, 1, 20, 20, 255, 255, 0, 15, 15, 0],
  "2007_000042": [15, 15, 15, 0, 0, 0, 255, 1, 1, 1, 0, 0],
};
const CONTEXT_LABELS: Record<string, number[]> = {
  "2008_000002": [0, 1, 2, 3, 59, 59, 59, 0, 0, 0, 30, 30],
  "2008_000003": [30, 30, 0, 0, 59, 1, 1, 1, 0, 0, 0, 0],
};
const COCO_LABELS: Record<string, number[]> = {
  "000000000285": [0, 0, 0, 80, 80, 80, 1, 1, 1, 0, 0, 0],
  "000000000139": [1, 1, 0, 0, 62, 62, 0, 0, 80, 0, 0, 1],
};

async function writeJpeg(path: string, width = WIDTH, height = HEIGHT): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await sharp({ create: { width, height, channels: 3, background: { r: 90, g: 120, b: 30 } } })
    .jpeg()
    .toFile(path);
}

async function writePaletteLabel(path: string, labels: number[]): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeLabelPng(path, Uint8Array.from(labels), WIDTH, HEIGHT);
}

/** Pascal Context's labels are plain 8-bit greyscale PNGs, not palette ones. */
async function writeGreyLabel(path: string, labels: number[]): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await sharp(Buffer.from(labels), { raw: { width: WIDTH, height: HEIGHT, channels: 1 } })
    .toColourspace("b-w")
    .png()
    .toFile(path);
}

async function writeList(path: string, ids: string[]): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, ids.map((id) => `${id}\n`).join(""));
}

async function writeVocLayout(root: string, labels: Record<string, number[]>): Promise<void> {
  for (const [id, values] of Object.entries(labels)) {
    await writeJpeg(join(root, "JPEGImages", `${id}.jpg`));
    await writePaletteLabel(join(root, "SegmentationClass", `${id}.png`), values);
  }
  await writeList(join(root, "ImageSets", "Segmentation", "val.txt"), Object.keys(labels));
}

/** Score labels against themselves (ignored pixels predicted as 0): every protocol must give mIoU 1. */
async function scorePerfectPrediction(set: SegmentationDataset) {
  const scorer = new IoUAccumulator(set.numClasses, {
    ignoreIndex: set.ignoreIndex,
    reduceZeroLabel: set.reduceZeroLabel,
  });
  for (const id of set.ids) {
    const { labels } = await set.readLabel(id, { checkImageSize: true });
    const prediction = Array.from(labels, (label) =>
      label === set.ignoreIndex || (set.reduceZeroLabel && label === 0)
        ? 0
        : label - Number(set.reduceZeroLabel),
    );
    scorer.add(prediction, labels);
  }
  const metrics = scorer.metrics();
  return { miou: metrics.miou, scoredClasses: metrics.iou.filter((iou) => !Number.isNaN(iou)).length };
}

describe("openSegmentationDataset", () => {
  let dir: string;
  let vocRoot: string;
  let contextParent: string;
  let cocoRoot: string;
  let folderRoot: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "sseg-datasets-"));
    vocRoot = join(dir, "voc", "VOCdevkit", "VOC2012");
    await writeVocLayout(vocRoot, VOC_LABELS);

    contextParent = join(dir, "context");
    const contextRoot = join(contextParent, "VOCdevkit", "VOC2010");
    for (const [id, values] of Object.entries(CONTEXT_LABELS)) {
      await writeJpeg(join(contextRoot, "JPEGImages", `${id}.jpg`));
      await writeGreyLabel(join(contextRoot, "SegmentationClassContext", `${id}.png`), values);
    }
    await writeList(
      join(contextRoot, "ImageSets", "SegmentationContext", "val.txt"),
      Object.keys(CONTEXT_LABELS),
    );

    cocoRoot = join(dir, "coco");
    for (const [id, values] of Object.entries(COCO_LABELS)) {
      await writeJpeg(join(cocoRoot, "images", "val2017", `${id}.jpg`));
      await writePaletteLabel(join(cocoRoot, "annotations", "val2017", `${id}_instanceTrainIds.png`), values);
    }

    folderRoot = join(dir, "composite");
    await writeVocLayout(folderRoot, { a: [0, 1, 2, 255, 0, 1, 2, 2, 0, 0, 0, 0], b: Array(12).fill(1) });
    await writeFile(join(folderRoot, "classes.txt"), "background\ncat\ndog\n");
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it("reads VOC 2012 with background: 21 classes, 255 kept for the scorer to ignore", async () => {
    const set = await openSegmentationDataset("voc", vocRoot);
    assert.deepEqual(set.ids, ["2007_000033", "2007_000042"]);
    assert.equal(set.numClasses, 21);
    assert.equal(set.classes[0], "background");
    assert.equal(set.classes[20], "monitor");
    assert.equal(set.ignoreIndex, 255);
    assert.equal(set.reduceZeroLabel, false);
    assert.equal(set.imagePath("2007_000033"), join(vocRoot, "JPEGImages", "2007_000033.jpg"));
    const label = await set.readLabel("2007_000033");
    assert.deepEqual([label.width, label.height], [WIDTH, HEIGHT]);
    assert.deepEqual(Array.from(label.labels), VOC_LABELS["2007_000033"]);
    assert.deepEqual(await scorePerfectPrediction(set), { miou: 1, scoredClasses: 4 });
  });

  it("reads VOC-20 from the same files with reduce_zero_label, from the folder holding VOCdevkit", async () => {
    const set = await openSegmentationDataset("voc20", join(dir, "voc"));
    assert.equal(set.root, vocRoot);
    assert.equal(set.numClasses, 20);
    assert.deepEqual([set.classes[0], set.classes[19]], ["aeroplane", "monitor"]);
    assert.equal(set.reduceZeroLabel, true);
    assert.deepEqual(Array.from((await set.readLabel("2007_000042")).labels), VOC_LABELS["2007_000042"]);
    // Classes 1, 15 and 20 become 0, 14 and 19; background is no longer scored.
    assert.deepEqual(await scorePerfectPrediction(set), { miou: 1, scoredClasses: 3 });
  });

  it("reads Pascal Context 60 from VOC2010 (mmseg's data_root) or from the folder holding VOCdevkit", async () => {
    const voc2010 = join(contextParent, "VOCdevkit", "VOC2010");
    for (const root of [voc2010, join(contextParent, "VOCdevkit"), contextParent]) {
      const set = await openSegmentationDataset("context", root);
      assert.equal(set.root, voc2010);
      assert.deepEqual(set.ids, ["2008_000002", "2008_000003"]);
    }
    const set = await openSegmentationDataset("context", voc2010);
    assert.equal(set.numClasses, 60);
    assert.deepEqual([set.classes[0], set.classes[1], set.classes[59]], ["background", "airplane", "wood"]);
    assert.equal(set.reduceZeroLabel, false);
    assert.equal(set.labelPath("2008_000002"), join(voc2010, "SegmentationClassContext", "2008_000002.png"));
    assert.deepEqual(Array.from((await set.readLabel("2008_000002")).labels), CONTEXT_LABELS["2008_000002"]);
    assert.deepEqual(await scorePerfectPrediction(set), { miou: 1, scoredClasses: 6 });
  });

  it("reads Pascal Context 59 with reduce_zero_label", async () => {
    const set = await openSegmentationDataset("context59", contextParent);
    assert.equal(set.numClasses, 59);
    assert.deepEqual([set.classes[0], set.classes[58]], ["airplane", "wood"]);
    assert.equal(set.reduceZeroLabel, true);
    assert.deepEqual(await scorePerfectPrediction(set), { miou: 1, scoredClasses: 5 });
  });

  it("reads COCO-Object in GroupViT's layout: sorted image names, *_instanceTrainIds.png, 81 classes", async () => {
    const set = await openSegmentationDataset("coco-object", cocoRoot);
    assert.deepEqual(set.ids, ["000000000139", "000000000285"]);
    assert.equal(set.numClasses, 81);
    assert.deepEqual(
      [set.classes[0], set.classes[1], set.classes[58], set.classes[63], set.classes[80]],
      ["background", "person", "couch", "tv", "toothbrush"],
    );
    assert.equal(set.reduceZeroLabel, false);
    assert.equal(set.imagePath("000000000139"), join(cocoRoot, "images", "val2017", "000000000139.jpg"));
    assert.equal(
      set.labelPath("000000000139"),
      join(cocoRoot, "annotations", "val2017", "000000000139_instanceTrainIds.png"),
    );
    assert.deepEqual(Array.from((await set.readLabel("000000000285")).labels), COCO_LABELS["000000000285"]);
    assert.deepEqual(await scorePerfectPrediction(set), { miou: 1, scoredClasses: 4 });
    assert.deepEqual((await openSegmentationDataset("coco-object", dir)).ids, set.ids);
  });

  it("reads any VOC-layout folder with its classes.txt as folder or composite", async () => {
    for (const name of ["folder", "composite"]) {
      const set = await openSegmentationDataset(name, folderRoot);
      assert.deepEqual(set.ids, ["a", "b"]);
      assert.deepEqual(set.classes, ["background", "cat", "dog"]);
      assert.equal(set.numClasses, 3);
      assert.equal(set.reduceZeroLabel, false);
      assert.deepEqual(await scorePerfectPrediction(set), { miou: 1, scoredClasses: 3 });
    }
  });

  it("names the valid data sets when given an unknown one", async () => {
    await assertRejectsWith(
      openSegmentationDataset("ade20k", vocRoot),
      DataError,
      '"ade20k"',
      DATASET_NAMES.join(", "),
    );
  });

  it("names the missing folder, list file, classes.txt or converted COCO label", async () => {
    const missing = join(dir, "nowhere");
    await assertRejectsWith(openSegmentationDataset("voc", missing), DataError, missing);
    await assertRejectsWith(
      openSegmentationDataset("voc", vocRoot, { split: "train" }),
      DataError,
      join(vocRoot, "ImageSets", "Segmentation", "train.txt"),
    );
    await assertRejectsWith(
      openSegmentationDataset("context59", contextParent, { split: "train" }),
      DataError,
      join(contextParent, "VOCdevkit", "VOC2010", "ImageSets", "SegmentationContext", "train.txt"),
    );
    await assertRejectsWith(
      openSegmentationDataset("coco-object", cocoRoot, { split: "train" }),
      DataError,
      join(cocoRoot, "images", "train2017"),
    );
    await assertRejectsWith(
      openSegmentationDataset("folder", vocRoot),
      DataError,
      join(vocRoot, "classes.txt"),
    );

    const unconverted = join(dir, "coco-unconverted");
    await writeJpeg(join(unconverted, "images", "val2017", "000000000632.jpg"));
    await writePaletteLabel(
      join(unconverted, "annotations", "val2017", "000000000632_labelTrainIds.png"),
      Array(12).fill(0),
    );
    const set = await openSegmentationDataset("coco-object", unconverted);
    await assertRejectsWith(
      set.readLabel("000000000632"),
      DataError,
      "000000000632_instanceTrainIds.png",
      "convert_coco_object.py",
    );
  });

  it("rejects an empty split", async () => {
    const emptyVoc = join(dir, "empty-voc");
    await writeList(join(emptyVoc, "ImageSets", "Segmentation", "val.txt"), []);
    await assertRejectsWith(openSegmentationDataset("voc", emptyVoc), Error, "empty");

    const emptyContext = join(dir, "empty-context");
    await writeList(join(emptyContext, "ImageSets", "SegmentationContext", "val.txt"), ["", "  "]);
    await assertRejectsWith(openSegmentationDataset("context", emptyContext), DataError, "val.txt", "empty");

    const emptyCoco = join(dir, "empty-coco");
    await mkdir(join(emptyCoco, "images", "val2017"), { recursive: true });
    await mkdir(join(emptyCoco, "annotations", "val2017"), { recursive: true });
    await assertRejectsWith(openSegmentationDataset("coco-object", emptyCoco), DataError, "no .jpg images");
  });

  it("detects a label whose size differs from its image only when asked", async () => {
    const root = join(dir, "mismatch");
    await writeVocLayout(root, { a: Array(12).fill(1) });
    await writeJpeg(join(root, "JPEGImages", "a.jpg"), WIDTH + 1, HEIGHT);
    await writeFile(join(root, "classes.txt"), "background\nthing\n");
    const set = await openSegmentationDataset("folder", root);
    assert.equal((await set.readLabel("a")).width, WIDTH);
    await assertRejectsWith(set.readLabel("a", { checkImageSize: true }), DataError, "4×3", "5×3", "a.jpg");
    await assertRejectsWith(
      set.readLabel("missing"),
      ImageError,
      join(root, "SegmentationClass", "missing.png"),
    );
  });
});
