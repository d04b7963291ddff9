/**
 * The segmenter's image decoder in the browser (the twin of `decode.ts`): raw pixels as they are, anything else
 * (a URL, encoded bytes, a Blob, an ImageBitmap or canvas source) through the browser's own codecs.
 */
import { ImageError, type ImageInput, type RgbImage, rgbFromRaw } from "./pixels.js";

type BrowserImageInput = ImageInput | Blob | ImageBitmapSource;

export async function decodeImage(input: BrowserImageInput): Promise<RgbImage> {
  if (
    typeof input === "object" &&
    input !== null &&
    "data" in input &&
    "width" in input &&
    !(input instanceof ImageData)
  )
    return rgbFromRaw(input);
  let source: ImageBitmapSource;
  if (typeof input === "string") source = await (await fetch(input)).blob();
  else if (input instanceof Uint8Array)
    source = new Blob([new Uint8Array(input)]); // a copy owns a plain ArrayBuffer
  else source = input as ImageBitmapSource;
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(source);
  } catch (err) {
    throw new ImageError(
      `${typeof input === "string" ? input : "<image>"}: not an image the browser can decode (${(err as Error).message})`,
    );
  }
  const canvas = new OffscreenCanvas(bitmap.width, bitmap.height);
  const context = canvas.getContext("2d") as OffscreenCanvasRenderingContext2D;
  context.drawImage(bitmap, 0, 0);
  const { data, width, height } = context.getImageData(0, 0, bitmap.width, bitmap.height);
  bitmap.close();
  return rgbFromRaw({ data, width, height, channels: 4 });
}
