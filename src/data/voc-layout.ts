/**
 * A segmentation set in PASCAL VOC layout: JPEGImages/<id>.jpg, SegmentationClass/<id>.png (palette or grey
 * PNG whose values are class ids, 255 = ignore), ImageSets/Segmentation/<split>.txt, and optionally
 * classes.txt (one name per line, background first). VOC 2012 itself and the composite validation set use it.
 */
import { existsSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { join } from "node:path";

/** GroupViT's VOC prompt names (`segmentation/datasets/pascal_voc.py`), background excluded. */
export const VOC20_CLASSES = [
  "aeroplane",
  "bicycle",
  "bird",
  "boat",
  "bottle",
  "bus",
  "car",
  "cat",
  "chair",
  "cow",
  "table",
  "dog",
  "horse",
  "motorbike",
  "person",
  "plant",
  "sheep",
  "sofa",
  "train",
  "monitor",
];

/** PASCAL VOC 2012's 21 classes in mmseg's order, background first, with the prompt names above. */
export const VOC_CLASSES = ["background", ...VOC20_CLASSES];

export interface VocLayoutSet {
  root: string;
  split: string;
  ids: string[];
  classes: string[];
  imagePath(id: string): string;
  labelPath(id: string): string;
}

export async function openVocLayout(root: string, split = "val"): Promise<VocLayoutSet> {
  const listPath = join(root, "ImageSets", "Segmentation", `${split}.txt`);
  if (!existsSync(root)) throw new Error(`${root}: no such data set folder`);
  const list = await readFile(listPath, "utf8").catch(() => {
    throw new Error(`${root}: not in VOC layout (missing ImageSets/Segmentation/${split}.txt)`);
  });
  const ids = list
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter(Boolean);
  if (ids.length === 0) throw new Error(`${listPath}: the ${split} list is empty`);
  const classesPath = join(root, "classes.txt");
  const classes = existsSync(classesPath)
    ? (await readFile(classesPath, "utf8"))
        .split(/\r?\n/)
        .map((line) => line.trim())
        .filter(Boolean)
    : VOC_CLASSES;
  return {
    root,
    split,
    ids,
    classes,
    imagePath: (id) => join(root, "JPEGImages", `${id}.jpg`),
    labelPath: (id) => join(root, "SegmentationClass", `${id}.png`),
  };
}
