/**
 * `sseg data composites`: real-photo composites for training and validation.
 *   out/train/{00000..}.tar   webdataset shards ({key}.jpg, {key}.txt caption, {key}.json what was drawn)
 *   out/val/                  PASCAL VOC layout (JPEGImages, SegmentationClass, ImageSets/Segmentation/val.txt,
 *                             classes.txt, composites.jsonl what was drawn) from held-back stamps and
 *                             backgrounds that training never sees
 *   out/README.md, out/composites.json, out/LICENSES/   data card, manifest with statistics, source licences
 * Sample i of a split depends only on (seed, split, i): the same command gives the same bytes, and a smaller
 * build is a prefix of a larger one.
 */
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { mkdir, readdir, readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import sharp from "sharp";
import { pack } from "tar-stream";
import { Rng } from "../../engine/rng.js";
import { writeFileAtomic } from "../../io/atomic.js";
import { writeLabelPng } from "../../io/label-png.js";
import { vocPalette } from "../../io/palette.js";
import { composeCaption } from "./captions.js";
import { APT_LINE, type Catalog, type Split, withSeenValidation } from "./catalog.js";
import {
  type Composite,
  IGNORE_LABEL,
  loadSplitAssets,
  renderComposite,
  type SplitAssets,
} from "./render.js";

export interface BuildOptions {
  catalog: Catalog;
  /** How the catalog was given ("debian" or a file), recorded in the manifest. */
  catalogName: string;
  out: string;
  train: number;
  val: number;
  size: number;
  seed: number;
  shardSize: number;
  boundaryRadius: number;
  trainingOnlyProbability: number;
  /** Where validation stamps and backgrounds come from: the held-back ones, or the training ones (a seen-stamps check). */
  valFrom: ValidationSource;
  /** Root of the Debian installation the packages' copyright files and versions are read from. */
  packageRoot: string;
  onProgress?: (split: Split, done: number, total: number) => void;
}

export type ValidationSource = "held-back" | "train";
export const VALIDATION_SOURCES: readonly ValidationSource[] = ["held-back", "train"];

export const DEFAULT_BUILD = {
  train: 20000,
  val: 500,
  size: 256,
  seed: 0,
  shardSize: 1000,
  boundaryRadius: 1,
  trainingOnlyProbability: 0.3,
  valFrom: "held-back" as ValidationSource,
};

export class CompositesError extends Error {
  override name = "CompositesError";
}

/** Counts written into the manifest and the data card. */
export interface SplitStats {
  images: number;
  /** Objects of each class (and "(training only)") drawn. */
  objects: Record<string, number>;
  /** Images containing each class. */
  imagesPerClass: Record<string, number>;
  /** val only: labelled pixels per class (background included) and ignored pixels. */
  pixels?: Record<string, number>;
  ignoredPixels?: number;
  /** train only: caption kinds and distinct captions. */
  captionKinds?: Record<string, number>;
  distinctCaptions?: number;
}

export interface BuildSummary {
  out: string;
  shards: string[];
  train: SplitStats;
  val: SplitStats;
  seconds: number;
}

/** Samples rendered concurrently: rendering runs on this thread while sharp encodes in its own pool. */
const IN_FLIGHT = 8;
const TRAINING_ONLY = "(training only)";

/** Every file the catalog names, or a clear error saying what is missing and how to get it. */
export function checkSources(catalog: Catalog): void {
  const missing = [
    ...catalog.stamps.flatMap((s) => [".png", ".txt"].map((ext) => join(catalog.stampRoot, s.path + ext))),
    ...catalog.backgrounds.map((b) => join(catalog.backgroundRoot, b.path)),
  ].filter((file) => !existsSync(file));
  if (missing.length === 0) return;
  const install =
    catalog.packages.length > 0
      ? ` They come from the Debian packages ${catalog.packages.join(", ")}: ${APT_LINE}` +
        " (or `apt-get download` them, `dpkg-deb -x` each into one folder and pass it as --root)."
      : "";
  throw new CompositesError(
    `${missing.length} source file(s) missing, e.g. ${missing.slice(0, 3).join(", ")}.${install}`,
  );
}

/** A deterministic seed per (seed, split, index). */
function sampleSeed(seed: number, split: Split, index: number): number {
  const digest = createHash("sha256").update(`${seed}/${split}/${index}`).digest();
  return digest.readUInt32LE(0);
}

/** Render `count` samples in order with a bounded number in flight; `consume` sees them in index order. */
async function renderInOrder<T>(
  count: number,
  render: (index: number) => Promise<T>,
  consume: (index: number, value: T) => Promise<void>,
): Promise<void> {
  const pending: Promise<T>[] = [];
  for (let next = 0; next < Math.min(IN_FLIGHT, count); next++) pending.push(render(next));
  for (let index = 0; index < count; index++) {
    const value = await (pending.shift() as Promise<T>);
    if (index + IN_FLIGHT < count) pending.push(render(index + IN_FLIGHT));
    await consume(index, value);
  }
}

function countObjects(stats: SplitStats, composite: Composite): void {
  stats.images++;
  const seen = new Set<string>();
  for (const object of composite.objects) {
    const name = object.class ?? TRAINING_ONLY;
    stats.objects[name] = (stats.objects[name] ?? 0) + 1;
    if (object.class !== null) seen.add(object.class);
  }
  for (const name of seen) stats.imagesPerClass[name] = (stats.imagesPerClass[name] ?? 0) + 1;
}

async function encodeJpeg(composite: Composite): Promise<Uint8Array> {
  const { width, height, data } = composite.image;
  return new Uint8Array(
    await sharp(data, { raw: { width, height, channels: 3 } })
      .jpeg({ quality: 90 })
      .toBuffer(),
  );
}

/** A tar archive of the given members with fixed metadata, so the bytes depend on the contents only. */
async function tarArchive(members: { name: string; data: Uint8Array | string }[]): Promise<Uint8Array> {
  const archive = pack();
  const chunks: Buffer[] = [];
  archive.on("data", (chunk: unknown) => chunks.push(chunk as Buffer));
  const finished = new Promise<void>((resolve, reject) => {
    archive.on("end", resolve);
    archive.on("error", reject);
  });
  for (const member of members) {
    const data =
      typeof member.data === "string" ? Buffer.from(member.data, "utf8") : Buffer.from(member.data);
    archive.entry(
      { name: member.name, mtime: new Date(0), mode: 0o644, uid: 0, gid: 0, uname: "", gname: "" },
      data,
    );
  }
  archive.finalize();
  await finished;
  return Buffer.concat(chunks);
}

function emptyStats(): SplitStats {
  return { images: 0, objects: {}, imagesPerClass: {} };
}

async function buildTrain(
  options: BuildOptions,
  assets: SplitAssets,
): Promise<{ shards: string[]; stats: SplitStats }> {
  const stats: SplitStats = { ...emptyStats(), captionKinds: {} };
  const captions = new Set<string>();
  const shards: string[] = [];
  const dir = join(options.out, "train");
  await mkdir(dir, { recursive: true });
  let members: { name: string; data: Uint8Array | string }[] = [];
  const flush = async () => {
    const name = `${String(shards.length).padStart(5, "0")}.tar`;
    await writeFileAtomic(join(dir, name), await tarArchive(members));
    shards.push(name);
    members = [];
  };
  await renderInOrder(
    options.train,
    async (index) => {
      const rng = new Rng(sampleSeed(options.seed, "train", index));
      const composite = await renderComposite(assets, rng, options);
      const objects = composite.stamps.map((s) => ({
        className: s.entry.class,
        synonyms: options.catalog.classes[s.classIndex - 1]?.synonyms ?? [],
        name: s.entry.name,
        ownCaption: s.ownCaption,
      }));
      const caption = composeCaption(objects, composite.background.scene, rng);
      return { composite, caption, jpeg: await encodeJpeg(composite) };
    },
    async (index, { composite, caption, jpeg }) => {
      const key = String(index).padStart(9, "0");
      const meta = {
        key,
        caption_kind: caption.kind,
        objects: composite.objects,
        background: composite.background,
      };
      members.push(
        { name: `${key}.jpg`, data: jpeg },
        { name: `${key}.txt`, data: caption.caption },
        { name: `${key}.json`, data: `${JSON.stringify(meta)}\n` },
      );
      countObjects(stats, composite);
      const kinds = stats.captionKinds as Record<string, number>;
      kinds[caption.kind] = (kinds[caption.kind] ?? 0) + 1;
      captions.add(caption.caption);
      if (members.length === 3 * options.shardSize) await flush();
      options.onProgress?.("train", index + 1, options.train);
    },
  );
  if (members.length > 0) await flush();
  stats.distinctCaptions = captions.size;
  // Shards of an earlier, larger build in the same folder would be read as part of this one.
  for (const file of await readdir(dir)) {
    if (file.endsWith(".tar") && !shards.includes(file)) await rm(join(dir, file));
  }
  return { shards, stats };
}

async function buildVal(options: BuildOptions, assets: SplitAssets): Promise<SplitStats> {
  const classes = ["background", ...options.catalog.classes.map((c) => c.name)];
  const stats: SplitStats = {
    ...emptyStats(),
    pixels: Object.fromEntries(classes.map((c) => [c, 0])),
    ignoredPixels: 0,
  };
  const root = join(options.out, "val");
  const ids: string[] = [];
  const records: string[] = [];
  const palette = vocPalette();
  await renderInOrder(
    options.val,
    async (index) => {
      const composite = await renderComposite(
        assets,
        new Rng(sampleSeed(options.seed, "val", index)),
        options,
      );
      return { composite, jpeg: await encodeJpeg(composite) };
    },
    async (index, { composite, jpeg }) => {
      const id = `composite_${String(index).padStart(5, "0")}`;
      await writeFileAtomic(join(root, "JPEGImages", `${id}.jpg`), jpeg);
      const { size } = options;
      await writeLabelPng(
        join(root, "SegmentationClass", `${id}.png`),
        composite.labels,
        size,
        size,
        palette,
      );
      ids.push(id);
      records.push(JSON.stringify({ id, objects: composite.objects, background: composite.background }));
      countObjects(stats, composite);
      const pixels = stats.pixels as Record<string, number>;
      for (const label of composite.labels) {
        if (label === IGNORE_LABEL) (stats.ignoredPixels as number)++;
        else pixels[classes[label]]++;
      }
      options.onProgress?.("val", index + 1, options.val);
    },
  );
  await writeFileAtomic(join(root, "ImageSets", "Segmentation", "val.txt"), `${ids.join("\n")}\n`);
  await writeFileAtomic(join(root, "classes.txt"), `${classes.join("\n")}\n`);
  await writeFileAtomic(join(root, "composites.jsonl"), `${records.join("\n")}\n`);
  return stats;
}

/** Versions of the catalog's packages from dpkg's status file, where there is one. */
async function packageVersions(options: BuildOptions): Promise<Record<string, string>> {
  const status = await readFile(join(options.packageRoot, "var/lib/dpkg/status"), "utf8").catch(() => "");
  const versions: Record<string, string> = {};
  for (const block of status.split(/\n\n+/)) {
    const name = /^Package: (.+)$/m.exec(block)?.[1];
    const version = /^Version: (.+)$/m.exec(block)?.[1];
    if (name && version && options.catalog.packages.includes(name) && /^Status: .* installed$/m.test(block))
      versions[name] = version;
  }
  return versions;
}

/** Copy each package's Debian copyright file next to the data. */
async function writeLicences(options: BuildOptions): Promise<string[]> {
  const copied: string[] = [];
  for (const name of options.catalog.packages) {
    const source = join(options.packageRoot, "usr/share/doc", name, "copyright");
    if (!existsSync(source)) continue;
    await writeFileAtomic(join(options.out, "LICENSES", `${name}.copyright`), await readFile(source));
    copied.push(name);
  }
  return copied;
}

function buildCommand(options: BuildOptions): string {
  const catalog = options.catalogName === "debian" ? "" : ` --catalog ${options.catalogName}`;
  return (
    `sseg data composites --out ${options.out} --train ${options.train} --val ${options.val} --size ${options.size}` +
    ` --seed ${options.seed} --shard-size ${options.shardSize}${catalog}` +
    (options.valFrom === DEFAULT_BUILD.valFrom ? "" : ` --val-from ${options.valFrom}`)
  );
}

function dataCard(
  options: BuildOptions,
  summary: BuildSummary,
  versions: Record<string, string>,
  licences: string[],
) {
  const { catalog } = options;
  const lastShard = String(summary.shards.length - 1).padStart(5, "0");
  const rows = catalog.classes.map((c) => {
    const stamps = (split: Split) =>
      catalog.stamps.filter((s) => s.class === c.name && s.split === split).length;
    return `| ${c.name} | ${c.synonyms.join(", ")} | ${stamps("train")} | ${stamps("val")} | ${summary.train.objects[c.name] ?? 0} | ${summary.val.objects[c.name] ?? 0} |`;
  });
  const backgrounds = (split: Split) => catalog.backgrounds.filter((b) => b.split === split).length;
  const sources = catalog.packages.map((p) => `- \`${p}\` ${versions[p] ?? "(version unknown)"}`).join("\n");
  return `# Real-photo composites

Built by \`${buildCommand(options)}\` (sseg). Sample *i* of a split depends only on the seed, the split and *i*.

${
  summary.shards.length === 0
    ? "- **train/**: none (`--train 0`)."
    : `- **train/**: ${summary.train.images} image–caption pairs in ${summary.shards.length} webdataset shards
  (\`train/{00000..${lastShard}}.tar\`; members \`{key}.jpg\`, \`{key}.txt\` caption, \`{key}.json\` what was drawn).
  ${summary.train.distinctCaptions} distinct captions.`
}
- **val/**: ${summary.val.images} images in PASCAL VOC layout with \`classes.txt\` (read it with
  \`sseg data stats val --dataset folder\` or \`openSegmentationDataset("folder", "val")\`).
- ${options.size}×${options.size} pixels, JPEG quality 90; 1–3 cut-outs per image on a random crop of a photograph.
- Ground truth: the class of the topmost cut-out where its alpha ≥ 128, else background (0); 255 (ignored) on the
  soft rim of a cut-out (alpha below 255) and within ${options.boundaryRadius} px of every object boundary.
${
  options.valFrom === "train"
    ? `- Validation uses the training stamps and backgrounds (\`--val-from train\`) in new placements and crops: a
  check on what training saw, not on new objects; ${backgrounds("train")} backgrounds.`
    : `- Validation uses stamps and backgrounds that training never sees: ${backgrounds("train")} training and
  ${backgrounds("val")} validation backgrounds.`
}

| class | caption words | train stamps | val stamps | train objects | val objects |
| --- | --- | --- | --- | --- | --- |
${rows.join("\n")}

Training-only stamps (named by their own nouns in captions, no class): ${catalog.stamps.filter((s) => s.class === undefined).length}, drawn ${summary.train.objects[TRAINING_ONLY] ?? 0} times.

## Sources and licences

${sources || "- (custom catalog)"}

${licences.length > 0 ? `The Debian copyright files of these packages are in \`LICENSES/\`: ${licences.join(", ")}. The stamps are GPL-2, the wallpapers GPL-2+; these composites are derived works under the same terms.` : "Licences: see the sources of the custom catalog."}
`;
}

/** Build the training shards, the validation set, the manifest, the data card and the licences. */
export async function buildComposites(given: BuildOptions): Promise<BuildSummary> {
  if (!VALIDATION_SOURCES.includes(given.valFrom))
    throw new CompositesError(
      `--val-from: expected ${VALIDATION_SOURCES.join(" or ")}, got ${JSON.stringify(given.valFrom)}`,
    );
  const options =
    given.valFrom === "train" ? { ...given, catalog: withSeenValidation(given.catalog) } : given;
  for (const [flag, value, min] of [
    ["--train", options.train, 0],
    ["--val", options.val, 0],
    ["--size", options.size, 16],
    ["--shard-size", options.shardSize, 1],
  ] as const) {
    if (!Number.isInteger(value) || value < min)
      throw new CompositesError(`${flag}: expected an integer ≥ ${min}, got ${value}`);
  }
  checkSources(options.catalog);
  const started = performance.now();
  await mkdir(options.out, { recursive: true });
  const train =
    options.train > 0
      ? await buildTrain(options, await loadSplitAssets(options.catalog, "train", options.size))
      : { shards: [], stats: emptyStats() };
  const val =
    options.val > 0
      ? await buildVal(options, await loadSplitAssets(options.catalog, "val", options.size))
      : emptyStats();
  const summary: BuildSummary = {
    out: options.out,
    shards: train.shards,
    train: train.stats,
    val,
    seconds: (performance.now() - started) / 1000,
  };
  const versions = await packageVersions(options);
  const licences = await writeLicences(options);
  const { catalog } = options;
  const manifest = {
    command: buildCommand(options),
    settings: {
      catalog: options.catalogName,
      size: options.size,
      seed: options.seed,
      shardSize: options.shardSize,
      boundaryRadius: options.boundaryRadius,
      trainingOnlyProbability: options.trainingOnlyProbability,
      valFrom: options.valFrom,
    },
    packages: versions,
    classes: ["background", ...catalog.classes.map((c) => c.name)],
    stamps: catalog.stamps,
    backgrounds: catalog.backgrounds,
    train: { shards: train.shards, ...train.stats },
    val,
  };
  await writeFileAtomic(join(options.out, "composites.json"), `${JSON.stringify(manifest, null, 2)}\n`);
  await writeFileAtomic(join(options.out, "README.md"), dataCard(options, summary, versions, licences));
  return summary;
}
