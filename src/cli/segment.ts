/**
 * `sseg segment` (and `sseg demo`, what `npm start` runs: the same on samples/ with a default vocabulary): for
 * each image a palette label PNG (0 = background, i = the i-th class as given), an overlay with a legend and a
 * JSON summary, plus summary.json for the run. Each image is independent: a bad one is reported and skipped.
 */
import { basename, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import type { Command } from "commander";
import { COMPOSITE_CLASSES } from "../data/composites/catalog.js";
import type { ImageSegmenter, SegmentationResult, SegmentOptions } from "../infer/segmenter.js";
import { writeFileAtomic } from "../io/atomic.js";
import { contactTile, renderContactSheet } from "../io/contact-sheet.js";
import { readImage, writeImage } from "../io/image.js";
import { renderOverlay, writeLabelPng } from "../io/label-png.js";
import type { RgbImage } from "../io/pixels.js";
import { eachImage, listImages, parseList } from "./inputs.js";
import { addModelOptions, type ModelFlags, openSegmenter, segmentOptionsFrom } from "./model-options.js";

/** The default model knows the composites' classes, so the demo asks for those. */
export const DEMO_CLASSES = COMPOSITE_CLASSES.join(",");
const SAMPLES_DIR = fileURLToPath(new URL("../../../samples/", import.meta.url));
/** The contact sheet shows the first images' overlays; more would make one picture too large to look at. */
const CONTACT_SHEET_IMAGES = 24;

interface SegmentFlags extends ModelFlags {
  classes: string;
  out: string;
  json: boolean;
  overlay: boolean;
}

export function registerSegment(program: Command): void {
  addModelOptions(
    program
      .command("segment")
      .description("segment images with any list of class names: label PNGs, overlays with legends, JSON")
      .argument("<images...>", "image files or folders")
      .requiredOption(
        "-c, --classes <names>",
        "comma-separated class names (synonyms joined by |: person|people), or @file.txt with one per line",
      )
      .option("-o, --out <dir>", "output folder", "out")
      .option("--json", "print the results as JSON on stdout instead of lines of text")
      .option("--no-overlay", "do not write overlay images"),
  ).action((images: string[], flags: SegmentFlags) => runSegment(images, flags));
}

export function registerDemo(program: Command): void {
  addModelOptions(
    program
      .command("demo")
      .description("segment the shipped sample images with a default vocabulary (what `npm start` runs)")
      .argument("[images...]", "image files or folders (default: samples/)")
      .option("-c, --classes <names>", "comma-separated class names, or @file.txt", DEMO_CLASSES)
      .option("-o, --out <dir>", "output folder", "out")
      .option("--json", "print the results as JSON on stdout instead of lines of text")
      .option("--no-overlay", "do not write overlay images"),
  ).action((images: string[], flags: SegmentFlags) =>
    runSegment(images.length > 0 ? images : [SAMPLES_DIR], flags),
  );
}

interface ImageReport {
  image: string;
  width: number;
  height: number;
  classes: string[];
  /** Background first, then the classes present, most pixels first. */
  regions: { label: string; pixels: number; share: number; score?: number }[];
  milliseconds: number;
  files: { labels: string; overlay?: string; json: string };
}

async function runSegment(inputs: string[], flags: SegmentFlags): Promise<void> {
  const classes = await parseList(flags.classes, "--classes");
  const options = await segmentOptionsFrom(flags);
  const files = await listImages(inputs);
  const segmenter = await openSegmenter(flags, { untrainedFallback: true });
  try {
    segmenter.validate(classes, options);
    const say = flags.json ? () => {} : (line: string) => console.log(line);
    say(
      `sseg segment · ${segmenter.description} · backend ${segmenter.engine.backend} · ${files.length} image(s) · classes: ${classes.join(", ")}`,
    );
    const tiles: { title: string; image: RgbImage }[] = [];
    const { results: reports, failures } = await eachImage(
      "segment",
      files,
      async (file, stem) => {
        const { report, overlay } = await segmentOne(
          segmenter,
          file,
          classes,
          options,
          join(flags.out, stem),
          flags.overlay,
        );
        if (overlay && tiles.length < CONTACT_SHEET_IMAGES)
          tiles.push({ title: basename(file), image: await contactTile(overlay) });
        say(describe(report));
        return report;
      },
      say,
    );
    const contactSheet = tiles.length > 0 ? join(flags.out, "contact-sheet.png") : undefined;
    if (contactSheet) await writeImage(contactSheet, await renderContactSheet(tiles));
    const summary = {
      model: segmenter.description,
      trained: segmenter.trained,
      classes,
      results: reports,
      ...(contactSheet ? { contactSheet } : {}),
      failures,
    };
    await writeFileAtomic(join(flags.out, "summary.json"), `${JSON.stringify(summary, null, 2)}\n`);
    if (flags.json) console.log(JSON.stringify(summary, null, 2));
    say(
      `\nwrote ${reports.length} label PNG(s), ${contactSheet ? "overlays, a contact sheet" : "overlays"} and JSON to ${resolve(flags.out)}`,
    );
  } finally {
    segmenter.dispose();
  }
}

async function segmentOne(
  segmenter: ImageSegmenter,
  file: string,
  classes: string[],
  options: SegmentOptions,
  outStem: string,
  overlay: boolean,
): Promise<{ report: ImageReport; overlay?: RgbImage }> {
  const image = await readImage(file);
  const result = await segmenter.segment(image, classes, options);
  const written = {
    labels: `${outStem}.png`,
    ...(overlay ? { overlay: `${outStem}.overlay.png` } : {}),
    json: `${outStem}.json`,
  };
  if (resolve(written.labels) === resolve(file))
    throw new Error(`writing ${written.labels} would overwrite the input; choose another --out folder`);
  await writeLabelPng(written.labels, result.labelMap, result.width, result.height);
  const overlayImage = written.overlay
    ? await renderOverlay(image, result.labelMap, { classNames: ["background", ...result.classes] })
    : undefined;
  if (written.overlay && overlayImage) await writeImage(written.overlay, overlayImage);
  const report: ImageReport = {
    image: file,
    width: result.width,
    height: result.height,
    classes,
    regions: regions(result),
    milliseconds: Math.round(result.milliseconds),
    files: written,
  };
  await writeFileAtomic(written.json, `${JSON.stringify(report, null, 2)}\n`);
  return { report, overlay: overlayImage };
}

function regions(result: SegmentationResult): ImageReport["regions"] {
  const total = result.width * result.height;
  const foreground = result.segments.reduce((n, s) => n + s.pixels, 0);
  const round = (x: number) => Math.round(x * 1e4) / 1e4;
  return [
    ...(foreground < total
      ? [{ label: "background", pixels: total - foreground, share: round(1 - foreground / total) }]
      : []),
    ...result.segments.map((s) => ({
      label: s.label,
      pixels: s.pixels,
      share: round(s.pixels / total),
      score: round(s.score),
    })),
  ];
}

function describe(report: ImageReport): string {
  const found = report.regions.map((r) => `${r.label} ${(100 * r.share).toFixed(1)}%`).join(", ");
  return `${basename(report.image)} (${report.width}×${report.height}, ${(report.milliseconds / 1000).toFixed(2)} s): ${found}`;
}
