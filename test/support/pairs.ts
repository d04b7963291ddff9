import type { ImageCaptionPair, PairSource } from "../../src/data/pairs.js";

/** Every pair a source yields, in order. */
export async function collect(source: PairSource): Promise<ImageCaptionPair[]> {
  const pairs: ImageCaptionPair[] = [];
  for await (const pair of source) pairs.push(pair);
  return pairs;
}

/** A pair without its pixels, for comparing with expected values. */
export function describePair({ key, caption, meta, source, image }: ImageCaptionPair) {
  return { key, caption, meta, source, width: image.width };
}
