import { readFile } from "node:fs/promises";
import { basename, extname, join, resolve } from "node:path";
import type { Command } from "commander";
import { initEngine } from "../engine/backend.js";
import { RandomInitSegmenter } from "../infer/random-segmenter.js";
import { writeFileAtomic } from "../io/atomic.js";
import { readImage, writeImage } from "../io/image.js";
import { renderOverlay, writeLabelPng } from "../io/label-png.js";
import { listImages } from "./inputs.js";

const DEFAULT_CLASSES = "sky,tree,grass,water,building,road,animal,person";
const SAMPLES_DIR = new URL("../../../samples/", import.meta.url).pathname;

interface DemoOptions {
  classes: string;
  out: string;
  seed: string;
}

export function registerDemo(program: Command): void {
  program
    .command("demo", { isDefault: false })
    .description(
      "segment sample images end to end (what `npm start` runs); untrained weights until the default model ships",
    )
    .argument("[images...]", "image files or folders (default: the shipped samples/)")
    .option(
      "-c, --classes <names>",
      "comma-separated class names, or @file.txt with one per line",
      DEFAULT_CLASSES,
    )
    .option("-o, --out <dir>", "output folder", "out")
    .option("--seed <n>", "seed of the random initialisation", "0")
    .action(async (images: string[], options: DemoOptions) => runDemo(images, options));
}

async function runDemo(inputs: string[], options: DemoOptions): Promise<void> {
  const classes = await parseClasses(options.classes);
  const files = await listImages(inputs.length > 0 ? inputs : [SAMPLES_DIR]);
  const engine = await initEngine();
  const segmenter = await RandomInitSegmenter.create({ seed: Number(options.seed) });
  console.log(
    `sseg demo · backend ${engine.backend} · ${files.length} image(s) · classes: ${classes.join(", ")}`,
  );
  console.log(
    "note: no trained model ships yet, so the network is randomly initialised and its labels are arbitrary;",
  );
  console.log("      every stage (decode, resize, tokenize, encode, match, write) is the real pipeline.\n");
  const summary = [];
  for (const file of files) {
    const started = performance.now();
    const image = await readImage(file);
    const result = await segmenter.segment(image, classes);
    const name = basename(file, extname(file));
    const labelPath = join(options.out, `${name}.labels.png`);
    const overlayPath = join(options.out, `${name}.overlay.png`);
    await writeLabelPng(labelPath, result.labelMap, result.width, result.height);
    await writeImage(overlayPath, await renderOverlay(image, result.labelMap, { classNames: classes }));
    const seconds = (performance.now() - started) / 1000;
    const found = result.segments.map((s) => `${s.label} ${(100 * s.pixelShare).toFixed(1)}%`).join(", ");
    console.log(`${basename(file)} (${result.width}×${result.height}, ${seconds.toFixed(2)} s): ${found}`);
    summary.push({
      image: file,
      width: result.width,
      height: result.height,
      seconds,
      segments: result.segments,
      labels: labelPath,
      overlay: overlayPath,
    });
  }
  await writeFileAtomic(
    join(options.out, "summary.json"),
    `${JSON.stringify({ classes, trained: false, results: summary }, null, 2)}\n`,
  );
  console.log(`\nwrote label PNGs, overlays and summary.json to ${resolve(options.out)}`);
  segmenter.dispose();
}

/** "a,b,c" or "@file.txt" (one class per line) → trimmed, non-empty names. */
export async function parseClasses(spec: string): Promise<string[]> {
  const fromFile = spec.startsWith("@");
  const text = fromFile
    ? await readFile(spec.slice(1), "utf8").catch((err: NodeJS.ErrnoException) => {
        throw new Error(`--classes: cannot read the class file ${spec.slice(1)} (${err.code})`);
      })
    : spec;
  const names = text
    .split(fromFile ? /\r?\n/ : ",")
    .map((s) => s.trim())
    .filter(Boolean);
  if (names.length === 0) throw new Error(`--classes: no class names in ${JSON.stringify(spec)}`);
  return names;
}
