import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { deflateSync } from "node:zlib";
import { DEFAULT_MAX_PIXELS, readImage, writeImage } from "../../src/io/image.js";
import {
  ImageError,
  mmsegRescaleSize,
  type RgbImage,
  resizeBilinear,
  resizeNearest,
} from "../../src/io/pixels.js";
import { assertRejectsWith } from "../support/errors.js";

const fixture = (name: string): string =>
  fileURLToPath(new URL(`../../../test/fixtures/images/${name}`, import.meta.url));
const readJson = <T>(name: string): T => JSON.parse(readFileSync(fixture(name), "utf8")) as T;

interface DecodeCases {
  lossless: { file: string; width: number; height: number; rgb: number[] }[];
  oriented: {
    file: string;
    storedWidth: number;
    storedHeight: number;
    width: number;
    height: number;
    samples: { x: number; y: number; rgb: number[] }[];
  };
}

interface ResizeCases {
  opencv: string;
  resize: {
    from: [number, number];
    to: [number, number];
    rgb: number[];
    linear: number[];
    labels8: number[];
    nearest8: number[];
    labels16: number[];
    nearest16: number[];
  }[];
  mmseg: { size: [number, number]; expected: [number, number] }[];
}

const decodeCases = readJson<DecodeCases>("decode_cases.json");
const resizeCases = readJson<ResizeCases>("resize_cases.json");

function maxAbsDiff(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  assert.equal(actual.length, expected.length);
  let max = 0;
  for (let i = 0; i < actual.length; i++) max = Math.max(max, Math.abs(actual[i] - expected[i]));
  return max;
}

function assertImageError(promise: Promise<unknown>, ...fragments: string[]): Promise<void> {
  return assertRejectsWith(promise, ImageError, ...fragments);
}

describe("readImage", () => {
  for (const c of decodeCases.lossless) {
    it(`decodes ${c.file} to PIL's RGB pixels`, async () => {
      const img = await readImage(fixture(c.file));
      assert.deepEqual([img.width, img.height], [c.width, c.height]);
      assert.deepEqual(Array.from(img.data), c.rgb);
    });
  }

  it("decodes from an encoded buffer", async () => {
    const c = decodeCases.lossless[0];
    const img = await readImage(await readFile(fixture(c.file)));
    assert.deepEqual(Array.from(img.data), c.rgb);
  });

  it("turns an EXIF orientation 6 JPEG upright", async () => {
    const c = decodeCases.oriented;
    const img = await readImage(fixture(c.file));
    assert.deepEqual([img.width, img.height], [c.width, c.height]);
    assert.notDeepEqual([img.width, img.height], [c.storedWidth, c.storedHeight]);
    for (const { x, y, rgb } of c.samples) {
      const at = Array.from(img.data.subarray((y * img.width + x) * 3, (y * img.width + x) * 3 + 3));
      assert.ok(maxAbsDiff(at, rgb) <= 12, `pixel (${x},${y}) is ${at}, PIL says ${rgb}`);
    }
  });

  it("takes raw RGB and RGBA pixels, dropping alpha", async () => {
    const rgba = new Uint8Array([1, 2, 3, 255, 4, 5, 6, 0]);
    assert.deepEqual(await readImage({ data: rgba, width: 2, height: 1 }), {
      width: 2,
      height: 1,
      data: new Uint8Array([1, 2, 3, 4, 5, 6]),
    });
    const rgb = new Uint8Array([1, 2, 3, 4, 5, 6]);
    const img = await readImage({ data: rgb, width: 1, height: 2, channels: 3 });
    assert.deepEqual(Array.from(img.data), [1, 2, 3, 4, 5, 6]);
    assert.notEqual(img.data, rgb, "raw input is copied, not aliased");
  });

  it("names the file and the problem for bad inputs", async () => {
    await assertImageError(readImage(fixture("missing.png")), "missing.png", "file not found");
    await assertImageError(readImage(fixture("empty.png")), "empty.png", "empty");
    await assertImageError(
      readImage(fixture("not_an_image.png")),
      "not_an_image.png",
      "not a supported image",
    );
    await assertImageError(
      readImage(fixture("truncated.jpg")),
      "truncated.jpg",
      "corrupt or truncated",
      "JPEG",
    );
    await assertImageError(readImage(fixture("")), "cannot read file");
  });

  it("names <buffer> for bad buffers", async () => {
    await assertImageError(readImage(new Uint8Array(0)), "<buffer>", "empty");
    await assertImageError(readImage(new TextEncoder().encode("hello")), "<buffer>", "not a supported image");
  });

  it("refuses images over the pixel limit before decoding them", async () => {
    await assertImageError(
      readImage(fixture("huge_header.png")),
      "huge_header.png",
      "20000×20000",
      "400000000 pixels",
      `limit of ${DEFAULT_MAX_PIXELS}`,
    );
    // 16000² passed sharp's own limit and decoded to 768 MB; the default now stops it at the header
    await assertImageError(
      readImage(forgedPngHeader(16000, 16000)),
      "16000×16000",
      `limit of ${8192 * 8192}`,
    );
    await assertImageError(readImage(fixture("grey.png"), { maxPixels: 100 }), "13×9", "limit of 100");
  });

  it("refuses raw pixels whose length does not fit the size", async () => {
    const data = new Uint8Array(10);
    await assertImageError(readImage({ data, width: 2, height: 2 }), "<raw pixels>", "10 bytes", "12", "16");
    await assertImageError(
      readImage({ data: new Uint8Array(12), width: 2, height: 2, channels: 4 }),
      "channels=4",
    );
    await assertImageError(readImage({ data, width: 0, height: 2 }), "positive integers");
  });
});

describe("resize", () => {
  it(`matches cv2.resize INTER_LINEAR (OpenCV ${resizeCases.opencv}) bit for bit`, (t) => {
    let worst = 0;
    for (const c of resizeCases.resize) {
      const [sw, sh] = c.from;
      const [dw, dh] = c.to;
      const out = resizeBilinear({ width: sw, height: sh, data: Uint8Array.from(c.rgb) }, dw, dh);
      assert.deepEqual([out.width, out.height], [dw, dh]);
      const diff = maxAbsDiff(out.data, c.linear);
      assert.equal(diff, 0, `${sw}×${sh} → ${dw}×${dh}: max |diff| ${diff}`);
      worst = Math.max(worst, diff);
    }
    t.diagnostic(`max |diff| over ${resizeCases.resize.length} cases: ${worst}`);
  });

  it("matches cv2.resize INTER_NEAREST exactly for 8- and 16-bit labels", () => {
    for (const c of resizeCases.resize) {
      const [sw, sh] = c.from;
      const [dw, dh] = c.to;
      const out8 = resizeNearest(Uint8Array.from(c.labels8), sw, sh, dw, dh);
      assert.ok(out8 instanceof Uint8Array);
      assert.deepEqual(Array.from(out8), c.nearest8, `${sw}×${sh} → ${dw}×${dh}`);
      const out16 = resizeNearest(Uint16Array.from(c.labels16), sw, sh, dw, dh);
      assert.ok(out16 instanceof Uint16Array);
      assert.deepEqual(Array.from(out16), c.nearest16, `${sw}×${sh} → ${dw}×${dh}`);
    }
  });

  it("refuses sizes that do not match the data", () => {
    assert.throws(() => resizeNearest(new Uint8Array(5), 2, 2, 4, 4), RangeError);
    assert.throws(() => resizeBilinear({ width: 2, height: 2, data: new Uint8Array(12) }, 0, 3), RangeError);
  });

  it("gives mmseg's Resize(img_scale=(2048, 448), keep_ratio=True) sizes", () => {
    for (const { size, expected } of resizeCases.mmseg) {
      const got = mmsegRescaleSize(size[0], size[1]);
      assert.deepEqual([got.width, got.height], expected, `${size}`);
    }
    assert.deepEqual(mmsegRescaleSize(1000, 500, { shortSide: 100, longSide: 150 }), {
      width: 150,
      height: 75,
    });
  });
});

describe("writeImage", () => {
  const dir = mkdtemp(join(tmpdir(), "sseg-image-"));
  after(async () => rm(await dir, { recursive: true, force: true }));
  const img: RgbImage = { width: 3, height: 2, data: Uint8Array.from({ length: 18 }, (_, i) => i * 14) };

  it("round-trips PNG exactly", async () => {
    const path = join(await dir, "out.png");
    await writeImage(path, img);
    assert.deepEqual(await readImage(path), img);
  });

  it("writes JPEG by extension or explicit format", async () => {
    for (const [name, format] of [
      ["a.jpg", undefined],
      ["b.bin", "jpeg"],
    ] as const) {
      const path = join(await dir, name);
      await writeImage(path, img, { format });
      const bytes = await readFile(path);
      assert.deepEqual([bytes[0], bytes[1]], [0xff, 0xd8], "JPEG magic");
      const back = await readImage(path);
      assert.deepEqual([back.width, back.height], [3, 2]);
    }
  });

  it("refuses unknown extensions and wrong data lengths", async () => {
    await assertImageError(writeImage(join(await dir, "x.tiff"), img), "x.tiff", "format");
    const bad = { ...img, data: new Uint8Array(5) };
    await assertImageError(writeImage(join(await dir, "x.png"), bad), "5 bytes");
  });
});

/** A PNG that is a header claiming width × height and one row of pixels: what a size check must catch unread. */
function forgedPngHeader(width: number, height: number): Uint8Array {
  const chunk = (type: string, data: Buffer) => {
    const body = Buffer.concat([Buffer.from(type, "latin1"), data]);
    const framed = Buffer.alloc(body.length + 8);
    framed.writeUInt32BE(data.length, 0);
    body.copy(framed, 4);
    framed.writeUInt32BE(crc32(body), body.length + 4);
    return framed;
  };
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header.set([8, 2, 0, 0, 0], 8); // 8-bit RGB
  const signature = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
  const firstRow = deflateSync(Buffer.alloc(1 + 3 * width)); // one scanline; the rest is missing
  return Buffer.concat([
    signature,
    chunk("IHDR", header),
    chunk("IDAT", firstRow),
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

function crc32(bytes: Uint8Array): number {
  let crc = 0xffffffff;
  for (const byte of bytes) {
    crc ^= byte;
    for (let k = 0; k < 8; k++) crc = (crc >>> 1) ^ (0xedb88320 & -(crc & 1));
  }
  return (crc ^ 0xffffffff) >>> 0;
}
