/**
 * The standard segmentation benchmarks in the folder layouts mmseg's (and GroupViT's) dataset configs read, so
 * a user who has a data set just points at its folder. Labels are returned raw, as stored; `reduceZeroLabel`
 * and `ignoreIndex` tell the scorer (`IoUAccumulator`) how to read them, as mmseg's evaluation does.
 *
 * Layouts (data_root as in GroupViT's `segmentation/configs/_base_/datasets/*.py`):
 * - voc, voc20: `VOCdevkit/VOC2012` with JPEGImages/<id>.jpg, SegmentationClass/<id>.png (palette indices,
 *   255 = boundary), ImageSets/Segmentation/<split>.txt.
 * - context, context59: `VOCdevkit/VOC2010` with JPEGImages/<id>.jpg, SegmentationClassContext/<id>.png (grey,
 *   0 = background, 1–59 the classes), ImageSets/SegmentationContext/<split>.txt.
 * - coco-object: `coco` with images/<split>2017/<id>.jpg and annotations/<split>2017/<id>_instanceTrainIds.png
 *   as written by GroupViT's `convert_dataset/convert_coco_object.py` (COCO-Stuff things → 1–80, stuff and
 *   unlabelled → 0); no list file, the ids are the sorted image names as mmseg's CustomDataset scans them.
 * - folder, composite: any VOC-layout folder with a classes.txt (background first).
 * For VOC and Context the root may also be the folder holding VOCdevkit, or VOCdevkit itself.
 */
import { existsSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";
import sharp from "sharp";
import { type LabelMap, readLabelPng } from "../io/label-png.js";
import { ImageError } from "../io/pixels.js";
import { DataError } from "./pairs.js";
import { openVocLayout, VOC_CLASSES, VOC20_CLASSES } from "./voc-layout.js";

export { VOC20_CLASSES } from "./voc-layout.js";

export const DATASET_NAMES = [
  "voc",
  "voc20",
  "context",
  "context59",
  "coco-object",
  "folder",
  "composite",
] as const;
export type DatasetName = (typeof DATASET_NAMES)[number];

/** mmseg's default ignore_index, used by every protocol here. */
const IGNORE_INDEX = 255;

/** GroupViT's Pascal Context prompt names (`segmentation/datasets/pascal_context.py`), background excluded. */
export const CONTEXT59_CLASSES = [
  "airplane",
  "bag",
  "bed",
  "bedclothes",
  "bench",
  "bicycle",
  "bird",
  "boat",
  "book",
  "bottle",
  "building",
  "bus",
  "cabinet",
  "car",
  "cat",
  "ceiling",
  "chair",
  "cloth",
  "computer",
  "cow",
  "cup",
  "curtain",
  "dog",
  "door",
  "fence",
  "floor",
  "flower",
  "food",
  "grass",
  "ground",
  "horse",
  "keyboard",
  "light",
  "motorbike",
  "mountain",
  "mouse",
  "person",
  "plate",
  "platform",
  "plant",
  "road",
  "rock",
  "sheep",
  "shelves",
  "sidewalk",
  "sign",
  "sky",
  "snow",
  "sofa",
  "table",
  "track",
  "train",
  "tree",
  "truck",
  "monitor",
  "wall",
  "water",
  "window",
  "wood",
];

/** The 80 COCO thing names in category order, as in GroupViT's `segmentation/datasets/coco_object.py`. */
export const COCO_THING_CLASSES = [
  "person",
  "bicycle",
  "car",
  "motorcycle",
  "airplane",
  "bus",
  "train",
  "truck",
  "boat",
  "traffic light",
  "fire hydrant",
  "stop sign",
  "parking meter",
  "bench",
  "bird",
  "cat",
  "dog",
  "horse",
  "sheep",
  "cow",
  "elephant",
  "bear",
  "zebra",
  "giraffe",
  "backpack",
  "umbrella",
  "handbag",
  "tie",
  "suitcase",
  "frisbee",
  "skis",
  "snowboard",
  "sports ball",
  "kite",
  "baseball bat",
  "baseball glove",
  "skateboard",
  "surfboard",
  "tennis racket",
  "bottle",
  "wine glass",
  "cup",
  "fork",
  "knife",
  "spoon",
  "bowl",
  "banana",
  "apple",
  "sandwich",
  "orange",
  "broccoli",
  "carrot",
  "hot dog",
  "pizza",
  "donut",
  "cake",
  "chair",
  "couch",
  "potted plant",
  "bed",
  "dining table",
  "toilet",
  "tv",
  "laptop",
  "mouse",
  "remote",
  "keyboard",
  "cell phone",
  "microwave",
  "oven",
  "toaster",
  "sink",
  "refrigerator",
  "book",
  "clock",
  "vase",
  "scissors",
  "teddy bear",
  "hair drier",
  "toothbrush",
];

export interface ReadLabelOptions {
  /** Also read the image's header and fail when its (EXIF-oriented) size differs from the label's. */
  checkImageSize?: boolean;
}

export interface SegmentationDataset {
  name: DatasetName;
  /** The data_root actually used (the given root, or the VOC20xx folder found inside it). */
  root: string;
  split: string;
  /** Names of the scored classes, indexed by class id after any zero-label reduction. */
  classes: readonly string[];
  numClasses: number;
  ids: string[];
  /** mmseg's reduce_zero_label: label 0 is ignored and the rest move down by one when scoring. */
  reduceZeroLabel: boolean;
  ignoreIndex: number;
  imagePath(id: string): string;
  labelPath(id: string): string;
  /** The label map as stored (no reduction applied; give `reduceZeroLabel` to the scorer). */
  readLabel(id: string, options?: ReadLabelOptions): Promise<LabelMap>;
}

export interface OpenDatasetOptions {
  /** "val" (default) or "train"; for coco-object these name the val2017/train2017 folders. */
  split?: string;
}

/** Where one data set keeps its files, relative to its data_root. */
interface ListLayout {
  root: string;
  ids: string[];
  imagePath(id: string): string;
  labelPath(id: string): string;
}

interface Protocol {
  classes: readonly string[];
  reduceZeroLabel: boolean;
}

export async function openSegmentationDataset(
  name: string,
  root: string,
  options: OpenDatasetOptions = {},
): Promise<SegmentationDataset> {
  if (!isDatasetName(name))
    throw new DataError(`unknown data set "${name}"; expected one of: ${DATASET_NAMES.join(", ")}`);
  if (!existsSync(root)) throw new DataError(`${root}: no such data set folder`);
  const split = options.split ?? "val";
  const [layout, protocol] = await openLayout(name, root, split);
  return {
    name,
    root: layout.root,
    split,
    classes: protocol.classes,
    numClasses: protocol.classes.length,
    ids: layout.ids,
    reduceZeroLabel: protocol.reduceZeroLabel,
    ignoreIndex: IGNORE_INDEX,
    imagePath: layout.imagePath,
    labelPath: layout.labelPath,
    readLabel: (id, readOptions = {}) => readLabel(layout, id, name, readOptions),
  };
}

function isDatasetName(name: string): name is DatasetName {
  return (DATASET_NAMES as readonly string[]).includes(name);
}

async function openLayout(name: DatasetName, root: string, split: string): Promise<[ListLayout, Protocol]> {
  switch (name) {
    case "voc":
    case "voc20": {
      const dataRoot = findDataRoot(root, "VOC2012", "SegmentationClass");
      requireListFile(join(dataRoot, "ImageSets", "Segmentation", `${split}.txt`));
      const layout = await openVocLayout(dataRoot, split);
      return name === "voc"
        ? [layout, { classes: VOC_CLASSES, reduceZeroLabel: false }]
        : [layout, { classes: VOC20_CLASSES, reduceZeroLabel: true }];
    }
    case "context":
    case "context59": {
      const dataRoot = findDataRoot(root, "VOC2010", "SegmentationClassContext");
      const layout = await openContextLayout(dataRoot, split);
      return name === "context"
        ? [layout, { classes: ["background", ...CONTEXT59_CLASSES], reduceZeroLabel: false }]
        : [layout, { classes: CONTEXT59_CLASSES, reduceZeroLabel: true }];
    }
    case "coco-object": {
      const dataRoot = existsSync(join(root, "coco", "images")) ? join(root, "coco") : root;
      const layout = await openCocoObjectLayout(dataRoot, split);
      return [layout, { classes: ["background", ...COCO_THING_CLASSES], reduceZeroLabel: false }];
    }
    case "folder":
    case "composite": {
      const classesPath = join(root, "classes.txt");
      if (!existsSync(classesPath))
        throw new DataError(
          `${classesPath}: missing (a ${name} data set names its classes there, background first)`,
        );
      requireListFile(join(root, "ImageSets", "Segmentation", `${split}.txt`));
      const layout = await openVocLayout(root, split);
      return [layout, { classes: layout.classes, reduceZeroLabel: false }];
    }
  }
}

/** mmseg's data_root is the VOC20xx folder; also accept the folder holding VOCdevkit, or VOCdevkit itself. */
function findDataRoot(root: string, year: string, labelDir: string): string {
  const candidates = [root, join(root, year), join(root, "VOCdevkit", year)];
  return candidates.find((candidate) => existsSync(join(candidate, labelDir))) ?? root;
}

function requireListFile(path: string): void {
  if (!existsSync(path)) throw new DataError(`${path}: split list not found`);
}

async function readIdList(path: string): Promise<string[]> {
  requireListFile(path);
  const ids = (await readFile(path, "utf8"))
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter(Boolean);
  if (ids.length === 0) throw new DataError(`${path}: the split list is empty`);
  return ids;
}

async function openContextLayout(root: string, split: string): Promise<ListLayout> {
  const ids = await readIdList(join(root, "ImageSets", "SegmentationContext", `${split}.txt`));
  return {
    root,
    ids,
    imagePath: (id) => join(root, "JPEGImages", `${id}.jpg`),
    labelPath: (id) => join(root, "SegmentationClassContext", `${id}.png`),
  };
}

/** mmseg's CustomDataset without a split file: every .jpg under the image folder, sorted by name. */
async function openCocoObjectLayout(root: string, split: string): Promise<ListLayout> {
  const folder = /^(train|val)$/.test(split) ? `${split}2017` : split;
  const imageDir = join(root, "images", folder);
  const labelDir = join(root, "annotations", folder);
  for (const dir of [imageDir, labelDir])
    if (!existsSync(dir))
      throw new DataError(`${dir}: folder not found (expected GroupViT's coco-object layout)`);
  const images = (await readdir(imageDir, { recursive: true })).filter((entry) => entry.endsWith(".jpg"));
  // Sorted with the suffix on, as mmseg sorts file names, then stripped to ids.
  const ids = images.sort().map((entry) => entry.slice(0, -".jpg".length));
  if (ids.length === 0) throw new DataError(`${imageDir}: no .jpg images for the ${split} split`);
  return {
    root,
    ids,
    imagePath: (id) => join(imageDir, `${id}.jpg`),
    labelPath: (id) => join(labelDir, `${id}_instanceTrainIds.png`),
  };
}

async function readLabel(
  layout: ListLayout,
  id: string,
  name: DatasetName,
  { checkImageSize = false }: ReadLabelOptions,
): Promise<LabelMap> {
  const path = layout.labelPath(id);
  if (name === "coco-object" && !existsSync(path))
    throw new DataError(
      `${path}: not found (run GroupViT's convert_dataset/convert_coco_object.py on COCO-Stuff)`,
    );
  const label = await readLabelPng(path);
  if (checkImageSize) {
    const imagePath = layout.imagePath(id);
    const { autoOrient } = await sharp(imagePath)
      .metadata()
      .catch((err: Error) => {
        throw new ImageError(`${imagePath}: cannot read image header (${err.message})`);
      });
    if (autoOrient.width !== label.width || autoOrient.height !== label.height)
      throw new DataError(
        `${path}: label is ${label.width}×${label.height} but the image ${imagePath} is ${autoOrient.width}×${autoOrient.height}`,
      );
  }
  return label;
}
