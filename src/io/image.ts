import { readFile } from "node:fs/promises";
import { extname } from "node:path";
import sharp, { type OutputInfo } from "sharp";
import { writeFileAtomic } from "./atomic.js";
import { ImageError, type ImageInput, type RgbImage, rgbFromRaw } from "./pixels.js";

export interface ReadImageOptions {
  /** Refuse images with more pixels than this (default 8192×8192) before decoding them. */
  maxPixels?: number;
}

/** 67 MP: any camera photo; decoded it is 200 MB of RGB, so a forged huge image cannot exhaust a small machine. */
export const DEFAULT_MAX_PIXELS = 8192 * 8192;

const BUFFER_SOURCE = "<buffer>";

/**
 * Decode a JPEG/PNG/WebP/GIF (first frame) file or buffer, or take raw RGB(A) pixels, into 8-bit RGB the way
 * PIL's `Image.open(...).convert("RGB")` does after EXIF orientation: alpha is dropped (not blended), grey,
 * palette and 16-bit images become 8-bit RGB (16-bit keeps the high byte). Known difference from PIL:
 * transparent GIF pixels come out black, where PIL gives their palette colour.
 */
export async function readImage(input: ImageInput, options: ReadImageOptions = {}): Promise<RgbImage> {
  const maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS;
  if (!Number.isInteger(maxPixels) || maxPixels <= 0) {
    throw new RangeError(`maxPixels must be a positive integer, got ${maxPixels}`);
  }
  if (typeof input === "string") return decodeImage(await readImageBytes(input), input, maxPixels);
  if (input instanceof Uint8Array) return decodeImage(input, BUFFER_SOURCE, maxPixels);
  return rgbFromRaw(input);
}

/** Read a whole image file, turning missing, unreadable and empty files into an `ImageError`. */
export async function readImageBytes(path: string): Promise<Uint8Array> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new ImageError(
      code === "ENOENT" ? `${path}: file not found` : `${path}: cannot read file (${(err as Error).message})`,
    );
  }
  if (bytes.length === 0) throw new ImageError(`${path}: file is empty (0 bytes)`);
  return bytes;
}

async function decodeImage(bytes: Uint8Array, source: string, maxPixels: number): Promise<RgbImage> {
  if (bytes.length === 0) throw new ImageError(`${source}: empty input (0 bytes)`);
  // sharp's own pixel limit is off because the check below gives a clearer error; ICC profiles are ignored
  // because cv2 and PIL, which produced the training data, ignore them too.
  const options = { limitInputPixels: false, ignoreIcc: true };
  let width: number;
  let height: number;
  try {
    ({ width, height } = await sharp(bytes, options).metadata());
  } catch (err) {
    // libvips repeats its warnings over several lines; the first says what is wrong
    const [reason] = (err as Error).message.split("\n");
    throw new ImageError(`${source}: not a supported image (${reason.trim()})`);
  }
  if (width * height > maxPixels) {
    throw new ImageError(
      `${source}: image is ${width}×${height} = ${width * height} pixels, over the limit of ${maxPixels} pixels (option maxPixels)`,
    );
  }
  let decoded: { data: Buffer; info: OutputInfo };
  try {
    decoded = await sharp(bytes, options)
      .rotate()
      .removeAlpha()
      .toColourspace("srgb")
      .raw({ depth: "uchar" })
      .toBuffer({ resolveWithObject: true });
  } catch (err) {
    throw new ImageError(`${source}: corrupt or truncated image (${(err as Error).message})`);
  }
  const { data, info } = decoded;
  if (info.channels !== 3) {
    throw new ImageError(
      `${source}: unsupported colour layout (decoded to ${info.channels} channels, not RGB)`,
    );
  }
  return {
    width: info.width,
    height: info.height,
    data: new Uint8Array(data.buffer, data.byteOffset, data.length),
  };
}

export type ImageFormat = "png" | "jpeg";

const JPEG_QUALITY = 90;

const FORMAT_BY_EXTENSION: Record<string, ImageFormat> = { ".png": "png", ".jpg": "jpeg", ".jpeg": "jpeg" };

/** Encode as PNG or JPEG (format from the extension unless given) and write atomically. */
export async function writeImage(
  path: string,
  img: RgbImage,
  options: { format?: ImageFormat } = {},
): Promise<void> {
  const format = options.format ?? FORMAT_BY_EXTENSION[extname(path).toLowerCase()];
  if (!format) {
    throw new ImageError(`${path}: cannot tell the format from the extension; pass {format: "png" | "jpeg"}`);
  }
  if (img.data.length !== img.width * img.height * 3) {
    throw new ImageError(
      `${path}: image data has ${img.data.length} bytes, expected ${img.width}×${img.height}×3`,
    );
  }
  const encoder = sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } });
  const encoded = format === "png" ? encoder.png() : encoder.jpeg({ quality: JPEG_QUALITY });
  await writeFileAtomic(path, await encoded.toBuffer());
}
