import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { readImage } from "../../src/io/image.js";
import { readLabelPng, renderOverlay, writeLabelPng } from "../../src/io/label-png.js";
import { distinctColours, vocPalette } from "../../src/io/palette.js";
import { ImageError, type RgbImage } from "../../src/io/pixels.js";
import { assertRejectsWith } from "../support/errors.js";

const fixture = (name: string): string =>
  fileURLToPath(new URL(`../../../test/fixtures/images/${name}`, import.meta.url));

interface LabelCases {
  vocPalette: number[];
  labels: { file: string; mode: string; bitDepth: number; width: number; height: number; labels: number[] }[];
}

const labelCases = JSON.parse(readFileSync(fixture("label_cases.json"), "utf8")) as LabelCases;

const tempDir = mkdtemp(join(tmpdir(), "sseg-labels-"));
after(async () => rm(await tempDir, { recursive: true, force: true }));

function assertImageError(promise: Promise<unknown>, ...fragments: string[]): Promise<void> {
  return assertRejectsWith(promise, ImageError, ...fragments);
}

/** PNG IHDR fields: bit depth and colour type (0 grey, 2 RGB, 3 indexed, 4 grey+alpha, 6 RGBA). */
async function pngHeader(path: string): Promise<{ bitDepth: number; colourType: number }> {
  const bytes = await readFile(path);
  return { bitDepth: bytes[24], colourType: bytes[25] };
}

describe("palettes", () => {
  it("vocPalette is the VOC devkit colour map", () => {
    const palette = vocPalette();
    assert.equal(palette.length, 768);
    const first = Array.from({ length: 5 }, (_, i) => Array.from(palette.subarray(3 * i, 3 * i + 3)));
    assert.deepEqual(first, [
      [0, 0, 0],
      [128, 0, 0],
      [0, 128, 0],
      [128, 128, 0],
      [0, 0, 128],
    ]);
    assert.deepEqual(Array.from(palette), labelCases.vocPalette);
  });

  it("distinctColours gives the requested number of well-separated colours", () => {
    const colours = distinctColours(30);
    assert.equal(colours.length, 90);
    let closest = Number.POSITIVE_INFINITY;
    for (let i = 0; i < 30; i++) {
      for (let j = 0; j < i; j++) {
        const distance = Math.hypot(
          colours[3 * i] - colours[3 * j],
          colours[3 * i + 1] - colours[3 * j + 1],
          colours[3 * i + 2] - colours[3 * j + 2],
        );
        closest = Math.min(closest, distance);
      }
    }
    assert.ok(closest > 20, `closest pair of colours is only ${closest.toFixed(1)} apart`);
    assert.deepEqual(distinctColours(3), distinctColours(30).subarray(0, 9), "a prefix is stable");
  });
});

describe("readLabelPng", () => {
  for (const c of labelCases.labels) {
    it(`reads ${c.file} (PIL mode ${c.mode}, ${c.bitDepth}-bit) as raw indices`, async () => {
      const map = await readLabelPng(fixture(c.file));
      assert.deepEqual([map.width, map.height], [c.width, c.height]);
      assert.ok(map.labels instanceof Uint8Array);
      assert.deepEqual(Array.from(map.labels), c.labels);
    });
  }

  it("refuses colour label images, non-PNGs and missing files", async () => {
    for (const [file, kind] of [
      ["rgba.png", "RGBA"],
      ["rgb16.png", "RGB"],
      ["grey_alpha.png", "greyscale+alpha"],
    ]) {
      await assertImageError(
        readLabelPng(fixture(file)),
        file,
        "label PNGs must be indexed or greyscale",
        kind,
      );
    }
    await assertImageError(
      readLabelPng(fixture("exif_orientation6.jpg")),
      "exif_orientation6.jpg",
      "not a PNG",
    );
    await assertImageError(readLabelPng(fixture("missing_label.png")), "missing_label.png", "file not found");
    await assertImageError(readLabelPng(fixture("empty.png")), "empty.png", "empty");
  });
});

describe("writeLabelPng", () => {
  it("round-trips 8-bit labels through an indexed PNG coloured by the VOC palette", async () => {
    const [width, height] = [17, 5];
    const labels = Uint8Array.from({ length: width * height }, (_, i) => (i * 37) % 256);
    const path = join(await tempDir, "voc.png");
    await writeLabelPng(path, labels, width, height);
    assert.deepEqual(await pngHeader(path), { bitDepth: 8, colourType: 3 });
    assert.deepEqual(await readLabelPng(path), { width, height, labels });
    const colours = await readImage(path);
    const palette = vocPalette();
    for (const p of [0, 1, 40, 84]) {
      const label = labels[p];
      assert.deepEqual(colours.data.subarray(3 * p, 3 * p + 3), palette.subarray(3 * label, 3 * label + 3));
    }
  });

  it("writes Uint16Array labels below 256 as 8-bit, and a custom palette", async () => {
    const labels = Uint16Array.from([0, 1, 2, 1]);
    const path = join(await tempDir, "custom.png");
    await writeLabelPng(path, labels, 2, 2, Uint8Array.from([10, 20, 30, 40, 50, 60, 70, 80, 90]));
    assert.deepEqual(await pngHeader(path), { bitDepth: 8, colourType: 3 });
    assert.deepEqual((await readLabelPng(path)).labels, Uint8Array.from(labels));
    assert.deepEqual(
      Array.from((await readImage(path)).data),
      [10, 20, 30, 40, 50, 60, 70, 80, 90, 40, 50, 60],
    );
  });

  it("round-trips labels of 256 and above through a 16-bit greyscale PNG", async () => {
    const [width, height] = [9, 4];
    const labels = Uint16Array.from({ length: width * height }, (_, i) => (i * 1777) % 65536);
    const path = join(await tempDir, "wide.png");
    await writeLabelPng(path, labels, width, height);
    assert.deepEqual(await pngHeader(path), { bitDepth: 16, colourType: 0 });
    const map = await readLabelPng(path);
    assert.ok(map.labels instanceof Uint16Array);
    assert.deepEqual(map, { width, height, labels });
  });

  it("refuses a label count that does not fit the size", async () => {
    await assertImageError(
      writeLabelPng(join(await tempDir, "bad.png"), new Uint8Array(5), 2, 2),
      "5 labels",
      "2×2",
    );
  });
});

describe("renderOverlay", () => {
  const photo: RgbImage = { width: 40, height: 20, data: new Uint8Array(40 * 20 * 3).fill(200) };
  const labels = Uint8Array.from({ length: 40 * 20 }, (_, i) => (i % 40 < 20 ? 1 : 2));
  const palette = Uint8Array.from([0, 0, 0, 255, 0, 0, 0, 0, 255]);
  const pixel = (img: RgbImage, x: number, y: number) =>
    Array.from(img.data.subarray((y * img.width + x) * 3, (y * img.width + x) * 3 + 3));

  it("blends label colours over the photo at the given alpha", async () => {
    const out = await renderOverlay(photo, labels, { palette, alpha: 0.25 });
    assert.deepEqual([out.width, out.height], [40, 20]);
    assert.deepEqual(pixel(out, 0, 0), [214, 150, 150]);
    assert.deepEqual(pixel(out, 39, 19), [150, 150, 214]);
  });

  it("leaves labels without a palette entry uncoloured", async () => {
    const out = await renderOverlay(photo, labels, { palette: palette.subarray(0, 6) });
    assert.deepEqual(pixel(out, 0, 0), [228, 100, 100]);
    assert.deepEqual(pixel(out, 39, 0), [200, 200, 200]);
  });

  it("appends a legend with a swatch and the rendered name of each label present", async () => {
    const classNames = ["background", "red thing", "blue & <thing>"];
    const out = await renderOverlay(photo, labels, { palette, classNames });
    assert.equal(out.width, 160, "a narrow photo gets a canvas wide enough for the legend");
    assert.ok(out.height > photo.height + 14, `legend strip missing: height ${out.height}`);
    const overlayOnly = await renderOverlay(photo, labels, { palette });
    assert.deepEqual(pixel(out, 5, 5), pixel(overlayOnly, 5, 5));
    assert.deepEqual(pixel(out, 100, 5), [255, 255, 255], "canvas right of the photo is white");
    const legendPixels: number[][] = [];
    for (let y = photo.height; y < out.height; y++)
      for (let x = 0; x < out.width; x++) legendPixels.push(pixel(out, x, y));
    const count = (rgb: number[]) => legendPixels.filter((p) => p.join() === rgb.join()).length;
    assert.equal(count([255, 0, 0]), 14 * 14, "one red swatch");
    assert.equal(count([0, 0, 255]), 14 * 14, "one blue swatch");
    const textPixels = legendPixels.filter(([r, g, b]) => r === g && g === b && r < 128).length;
    assert.ok(textPixels > 50, `class names were not rendered (only ${textPixels} dark pixels)`);
  });

  it("skips the legend when asked to", async () => {
    const out = await renderOverlay(photo, labels, { palette, classNames: ["a", "b", "c"], legend: false });
    assert.deepEqual([out.width, out.height], [40, 20]);
  });

  it("refuses labels that do not cover the photo", async () => {
    await assertImageError(renderOverlay(photo, new Uint8Array(3)), "3 labels", "40×20");
  });
});
