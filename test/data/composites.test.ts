import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { mkdir, mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, relative } from "node:path";
import { after, before, describe, it } from "node:test";
import sharp from "sharp";
import { extract } from "tar-stream";
import {
  type BuildOptions,
  buildComposites,
  CompositesError,
  DEFAULT_BUILD,
} from "../../src/data/composites/build.js";
import { composeCaption, countedNoun, joinList, pluralize } from "../../src/data/composites/captions.js";
import {
  type Catalog,
  CatalogError,
  debianCatalog,
  readCatalog,
  validateCatalog,
} from "../../src/data/composites/catalog.js";
import { groundTruth, type Layer, type LoadedStamp } from "../../src/data/composites/render.js";
import { openSegmentationDataset } from "../../src/data/datasets.js";
import { compositeStats } from "../../src/data/stats.js";
import { Rng } from "../../src/engine/rng.js";
import { readImage } from "../../src/io/image.js";
import { assertRejectsWith } from "../support/errors.js";

describe("composite captions", () => {
  it("inflects nouns and noun phrases", () => {
    const cases: [string, string][] = [
      ["cow", "cows"],
      ["mouse", "mice"],
      ["bus", "buses"],
      ["butterfly", "butterflies"],
      ["tomato", "tomatoes"],
      ["sheep", "sheep"],
      ["sports car", "sports cars"],
      ["bunch of grapes", "bunches of grapes"],
    ];
    for (const [one, many] of cases) assert.equal(pluralize(one), many);
    assert.equal(countedNoun("owl", 1), "an owl");
    assert.equal(countedNoun("cow", 1), "a cow");
    assert.equal(countedNoun("fox", 3), "three foxes");
    assert.equal(joinList(["a cow"]), "a cow");
    assert.equal(joinList(["a cow", "an owl", "two rats"]), "a cow, an owl and two rats");
  });

  it("mixes own captions, templates with class words, synonyms and specific nouns, reproducibly", () => {
    const objects = [
      { className: "cow", synonyms: ["cow", "cattle beast"], name: "zebu", ownCaption: "A zebu" },
      { className: undefined, synonyms: [], name: "lion", ownCaption: "A lion." },
    ];
    const kinds = new Set<string>();
    const captions: string[] = [];
    for (let seed = 0; seed < 200; seed++) {
      const { caption, kind } = composeCaption(objects, "on a dune", new Rng(seed));
      assert.deepEqual(composeCaption(objects, "on a dune", new Rng(seed)), { caption, kind });
      kinds.add(kind);
      captions.push(caption);
      if (kind === "own") assert.equal(caption, "A zebu. A lion.");
      else assert.match(caption, /^[A-Z].*(cow|cattle beast|zebu).* and a lion\b/);
      if (kind === "template+own") assert.ok(caption.endsWith(" A zebu. A lion."), caption);
    }
    assert.deepEqual([...kinds].sort(), ["own", "template", "template+own"]);
    for (const word of ["a cow", "a cattle beast", "a zebu", "on a dune"]) {
      assert.ok(
        captions.some((c) => c.includes(word)),
        `some caption says "${word}"`,
      );
    }
  });
});

/** A `w`×`h` RGBA stamp: opaque inside, one soft pixel at its top-left corner. */
function layer(classIndex: number, left: number, top: number, w: number, h: number): Layer {
  const rgba = new Uint8Array(w * h * 4).fill(255);
  rgba[3] = 100;
  const stamp = { classIndex } as LoadedStamp;
  return { stamp, rgba, left, top, width: w, height: h, flipped: false };
}

describe("composite ground truth", () => {
  it("labels the topmost opaque object, ignores its soft rim, and with a radius the boundary band", () => {
    const size = 8;
    const layers = [layer(1, 1, 1, 4, 4), layer(2, 3, 3, 4, 4)];
    const labels = groundTruth(layers, size, 0);
    const at = (x: number, y: number) => labels[y * size + x];
    assert.equal(at(0, 0), 0);
    assert.equal(at(1, 1), 255, "soft pixel of the lower object");
    assert.equal(at(2, 2), 1);
    assert.equal(at(3, 3), 255, "soft pixel of the upper object, over the lower one");
    assert.equal(at(4, 4), 2, "the upper object wins where both are opaque");
    assert.equal(at(6, 6), 2);
    assert.equal(at(7, 7), 0);
    const banded = groundTruth(layers, size, 1);
    assert.equal(banded[2 * size + 2], 255, "next to the lower object's edge");
    assert.equal(banded[5 * size + 5], 2, "inside the upper object, away from its edges");
    assert.equal(banded[0], 0);
  });
});

/** A tiny stand-in for the Debian packages: two classes of disc/square stamps, one training-only stamp. */
async function writeSyntheticSource(root: string): Promise<string> {
  const stamp = async (
    path: string,
    shape: "disc" | "square",
    rgb: [number, number, number],
    caption: string,
  ) => {
    const w = 24;
    const h = 20;
    const rgba = new Uint8Array(w * h * 4);
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const inside = shape === "square" ? x > 2 && x < w - 3 : (x - w / 2) ** 2 + (y - h / 2) ** 2 < 64;
        rgba.set([...rgb, inside ? 255 : 0], 4 * (y * w + x));
      }
    }
    const file = join(root, "stamps", path);
    await mkdir(dirname(file), { recursive: true });
    await sharp(rgba, { raw: { width: w, height: h, channels: 4 } })
      .png()
      .toFile(`${file}.png`);
    await writeFile(`${file}.txt`, `${caption}\nfr.utf8=Un disque.\n`);
  };
  await stamp("discs/red", "disc", [220, 20, 20], "A red disc.");
  await stamp("discs/orange", "disc", [230, 140, 20], "An orange disc.");
  await stamp("discs/blue", "disc", [20, 20, 230], "A blue disc.");
  await stamp("squares/green", "square", [20, 200, 20], "A green square.");
  await stamp("squares/white", "square", [250, 250, 250], "A white square.");
  await stamp("other/star", "disc", [120, 0, 120], "A purple star.");
  const background = async (name: string, value: number) => {
    const file = join(root, "backgrounds", `${name}.jpg`);
    await mkdir(dirname(file), { recursive: true });
    await sharp({ create: { width: 96, height: 80, channels: 3, background: { r: value, g: value, b: 60 } } })
      .jpeg()
      .toFile(file);
  };
  await background("meadow", 90);
  await background("field", 130);
  await background("beach", 170);
  const catalog = {
    stampRoot: "stamps",
    backgroundRoot: "backgrounds",
    classes: [
      { name: "disc", synonyms: ["disc", "circle"] },
      { name: "square", synonyms: ["square"] },
    ],
    stamps: [
      { path: "discs/red", class: "disc", name: "red disc", split: "train" },
      { path: "discs/orange", class: "disc", name: "orange disc", split: "train" },
      { path: "discs/blue", class: "disc", name: "blue disc", split: "val" },
      { path: "squares/green", class: "square", name: "green square", split: "train" },
      { path: "squares/white", class: "square", name: "white square", split: "val" },
      { path: "other/star", name: "star", split: "train" },
    ],
    backgrounds: [
      { path: "meadow.jpg", scene: "in a meadow", split: "train" },
      { path: "field.jpg", scene: "in a field", split: "train" },
      { path: "beach.jpg", scene: "on a beach", split: "val" },
    ],
  };
  const file = join(root, "catalog.json");
  await writeFile(file, JSON.stringify(catalog));
  return file;
}

async function tarMembers(file: string): Promise<Map<string, Buffer>> {
  const members = new Map<string, Buffer>();
  const reader = extract();
  const done = new Promise<void>((resolve, reject) => {
    reader.on("entry", (header, stream, next) => {
      const chunks: Buffer[] = [];
      stream.on("data", (c: unknown) => chunks.push(c as Buffer));
      stream.on("end", () => {
        members.set(header.name, Buffer.concat(chunks));
        next();
      });
    });
    reader.on("finish", resolve);
    reader.on("error", reject);
  });
  reader.end(await readFile(file));
  await done;
  return members;
}

async function fileHashes(root: string): Promise<Map<string, string>> {
  const hashes = new Map<string, string>();
  for (const entry of await readdir(root, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    hashes.set(
      relative(root, path),
      createHash("sha256")
        .update(await readFile(path))
        .digest("hex"),
    );
  }
  return hashes;
}

describe("sseg data composites on a synthetic source", () => {
  let root: string;
  let catalog: Catalog;
  let catalogFile: string;
  const options = (out: string, overrides: Partial<BuildOptions> = {}): BuildOptions => ({
    ...DEFAULT_BUILD,
    catalog,
    catalogName: "catalog.json",
    out,
    train: 7,
    val: 4,
    size: 64,
    shardSize: 3,
    packageRoot: root,
    ...overrides,
  });

  before(async () => {
    root = await mkdtemp(join(tmpdir(), "sseg-composites-"));
    catalogFile = await writeSyntheticSource(root);
    catalog = await readCatalog(catalogFile);
  });
  after(() => rm(root, { recursive: true, force: true }));

  it("writes webdataset shards of training pairs drawn from training stamps and backgrounds only", async () => {
    const out = join(root, "build");
    const summary = await buildComposites(options(out));
    assert.deepEqual(summary.shards, ["00000.tar", "00001.tar", "00002.tar"]);
    const keys: string[] = [];
    for (const shard of summary.shards) {
      const members = await tarMembers(join(out, "train", shard));
      for (const [name, bytes] of members) {
        const [key, extension] = name.split(".");
        if (extension === "jpg") {
          keys.push(key);
          const image = await readImage(bytes);
          assert.deepEqual([image.width, image.height], [64, 64]);
        } else if (extension === "json") {
          const meta = JSON.parse(bytes.toString("utf8"));
          assert.ok(meta.objects.length >= 1 && meta.objects.length <= 3);
          for (const object of meta.objects) assert.notEqual(object.stamp, "discs/blue");
          for (const object of meta.objects) assert.notEqual(object.stamp, "squares/white");
          assert.notEqual(meta.background.path, "beach.jpg");
        } else {
          assert.equal(extension, "txt");
          assert.ok(bytes.length > 0);
        }
      }
    }
    assert.deepEqual(keys, [
      "000000000",
      "000000001",
      "000000002",
      "000000003",
      "000000004",
      "000000005",
      "000000006",
    ]);
    assert.equal(summary.train.images, 7);
  });

  it("writes a VOC-layout validation set whose labels follow the held-back stamps' alpha", async () => {
    const out = join(root, "build");
    const set = await openSegmentationDataset("folder", join(out, "val"));
    assert.deepEqual(set.classes, ["background", "disc", "square"]);
    assert.equal(set.ids.length, 4);
    const records = (await readFile(join(out, "val", "composites.jsonl"), "utf8"))
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    for (const [i, id] of set.ids.entries()) {
      const labels = (await set.readLabel(id)).labels;
      const image = await readImage(set.imagePath(id));
      assert.ok(labels.every((l) => l <= 2 || l === 255));
      assert.ok(
        labels.some((l) => l === 1 || l === 2),
        `${id} has an object`,
      );
      assert.ok(
        labels.some((l) => l === 255),
        `${id} has an ignored band`,
      );
      assert.equal(records[i].background.path, "beach.jpg");
      for (const object of records[i].objects)
        assert.ok(["discs/blue", "squares/white"].includes(object.stamp));
      // Where the label says disc, the pixel is the blue val disc (JPEG-noisy), never the red/orange train ones.
      for (let p = 0; p < labels.length; p++) {
        if (labels[p] !== 1) continue;
        const [r, , b] = image.data.subarray(3 * p, 3 * p + 3);
        assert.ok(b > 150 && r < 100, `${id} pixel ${p}: disc pixel is blue`);
      }
    }
    const card = await readFile(join(out, "README.md"), "utf8");
    assert.match(card, /\| disc \| disc, circle \| 2 \| 1 \|/);
    const manifest = JSON.parse(await readFile(join(out, "composites.json"), "utf8"));
    assert.equal(manifest.val.images, 4);
    assert.deepEqual(manifest.classes, ["background", "disc", "square"]);
    const stats = await compositeStats(out);
    assert.equal(stats.train?.samples, 7);
    assert.equal(stats.val?.images, 4);
    assert.equal(stats.val?.classes.find((c) => c.name === "disc")?.images, manifest.val.imagesPerClass.disc);
  });

  it("gives the same bytes for the same command, and a smaller build is a prefix of a larger one", async () => {
    const out = join(root, "build");
    const first = await fileHashes(out);
    await buildComposites(options(out));
    assert.deepEqual(await fileHashes(out), first);
    const smaller = join(root, "smaller");
    await buildComposites(options(smaller, { train: 3, val: 2 }));
    const small = await fileHashes(smaller);
    assert.equal(small.get("train/00000.tar"), first.get("train/00000.tar"));
    assert.equal(
      small.get("val/JPEGImages/composite_00001.jpg"),
      first.get("val/JPEGImages/composite_00001.jpg"),
    );
    assert.equal(small.get("train/00001.tar"), undefined);
    const otherSeed = await buildComposites(options(join(root, "seed1"), { seed: 1, train: 3, val: 0 }));
    assert.notEqual(
      (await fileHashes(join(root, "seed1"))).get("train/00000.tar"),
      first.get("train/00000.tar"),
      `${otherSeed.shards}`,
    );
  });

  it("removes stale shards of an earlier, larger build in the same folder", async () => {
    const out = join(root, "rebuilt");
    await buildComposites(options(out, { val: 0 }));
    await buildComposites(options(out, { train: 2, val: 0 }));
    assert.deepEqual(await readdir(join(out, "train")), ["00000.tar"]);
  });

  it("--val-from train draws validation images from the training stamps and backgrounds, and says so", async () => {
    const out = join(root, "seen");
    await buildComposites(options(out, { train: 0, val: 6, valFrom: "train" }));
    const records = (await readFile(join(out, "val", "composites.jsonl"), "utf8"))
      .trim()
      .split("\n")
      .map((l) => JSON.parse(l));
    assert.equal(records.length, 6);
    const stamps = new Set(records.flatMap((r) => r.objects.map((o: { stamp: string }) => o.stamp)));
    for (const stamp of stamps)
      assert.ok(["discs/red", "discs/orange", "squares/green"].includes(stamp), stamp);
    for (const r of records) assert.ok(["meadow.jpg", "field.jpg"].includes(r.background.path));
    const manifest = JSON.parse(await readFile(join(out, "composites.json"), "utf8"));
    assert.equal(manifest.settings.valFrom, "train");
    assert.match(manifest.command, / --val-from train$/);
    const card = await readFile(join(out, "README.md"), "utf8");
    assert.match(card, /Validation uses the training stamps and backgrounds/);
    assert.match(card, /- \*\*train\/\*\*: none \(`--train 0`\)\./);
    assert.match(card, /\| disc \| disc, circle \| 2 \| 2 \|/);
    await assertRejectsWith(
      buildComposites(options(join(root, "x"), { valFrom: "test" as "train" })),
      CompositesError,
      '--val-from: expected held-back or train, got "test"',
    );
  });

  it("says which source files are missing and how to install the Debian packages", async () => {
    await assertRejectsWith(
      buildComposites(options(join(root, "x"), { catalog: debianCatalog(join(root, "no-debian")) })),
      CompositesError,
      "source file(s) missing",
      "usr/share/tuxpaint/stamps/animals/birds",
      "sudo apt-get install tuxpaint-stamps-default mate-backgrounds plasma-workspace-wallpapers",
      "--root",
    );
    const broken = {
      ...catalog,
      stamps: [
        ...catalog.stamps,
        { path: "discs/gone", class: "disc", name: "disc", split: "train" as const },
      ],
    };
    await assertRejectsWith(
      buildComposites(options(join(root, "x"), { catalog: broken })),
      CompositesError,
      "discs/gone.png",
    );
    await assertRejectsWith(
      buildComposites(options(join(root, "x"), { size: 8 })),
      CompositesError,
      "--size",
    );
  });

  it("refuses catalogs that cannot make a validation set, naming the entry", async () => {
    const noVal = { ...catalog, stamps: catalog.stamps.filter((s) => s.path !== "squares/white") };
    assert.throws(
      () => validateCatalog(noVal, "c.json"),
      (e: Error) => e instanceof CatalogError && /class "square" has no val stamp/.test(e.message),
    );
    const unknown = {
      ...catalog,
      stamps: [{ path: "p", class: "cat", name: "cat", split: "train" as const }],
    };
    assert.throws(() => validateCatalog(unknown, "c.json"), /stamps\[0\] \(p\): unknown class "cat"/);
    await writeFile(join(root, "bad.json"), "{ not json");
    await assertRejectsWith(readCatalog(join(root, "bad.json")), CatalogError, "bad.json: not valid JSON");
    await assertRejectsWith(
      readCatalog(join(root, "none.json")),
      CatalogError,
      "none.json: no such catalog file",
    );
  });
});

describe("the Debian catalog", () => {
  it("is valid, holds every class out in both splits, and never reuses a stamp or background", () => {
    const catalog = debianCatalog();
    validateCatalog(catalog, "debian");
    const paths = catalog.stamps.map((s) => s.path);
    assert.equal(new Set(paths).size, paths.length);
    assert.ok(catalog.classes.length >= 20);
    assert.ok(catalog.backgrounds.filter((b) => b.split === "val").length >= 4);
    assert.equal(catalog.stamps.filter((s) => s.split === "val" && s.class === undefined).length, 0);
  });
});

describe("the composite sample in the repository", () => {
  const sample = new URL("../../../data/composites-sample/", import.meta.url).pathname;

  it("is readable as pairs and as a VOC-layout set, and matches its manifest", async () => {
    const manifest = JSON.parse(await readFile(join(sample, "composites.json"), "utf8"));
    const stats = await compositeStats(sample);
    assert.equal(stats.train?.samples, manifest.train.images);
    assert.equal(stats.train?.skipped, 0);
    assert.equal(stats.val?.images, manifest.val.images);
    assert.deepEqual(
      stats.val?.classes.map((c) => c.name),
      ["background", ...debianCatalog().classes.map((c) => c.name)],
    );
    for (const c of stats.val?.classes ?? []) assert.equal(c.pixels, manifest.val.pixels[c.name], c.name);
    for (const name of ["tuxpaint-stamps-default", "mate-backgrounds", "plasma-workspace-wallpapers"]) {
      assert.match(await readFile(join(sample, "LICENSES", `${name}.copyright`), "utf8"), /License: GPL-2/);
    }
  });
});
