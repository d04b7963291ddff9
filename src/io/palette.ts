/**
 * Colour palettes as flat RGB triples: entry i is bytes [3i, 3i + 3).
 */

/**
 * The PASCAL VOC colour map (devkit `labelcolormap(256)`, also mmseg's VOC palette): the index's bits are
 * dealt out to R, G, B in turn, filling each channel from its most significant bit. 768 bytes.
 */
export function vocPalette(): Uint8Array {
  const palette = new Uint8Array(256 * 3);
  for (let index = 0; index < 256; index++) {
    let bits = index;
    for (let shift = 7; shift >= 0; shift--) {
      for (let channel = 0; channel < 3; channel++)
        palette[index * 3 + channel] |= ((bits >> channel) & 1) << shift;
      bits >>= 3;
    }
  }
  return palette;
}

/** Stepping the hue by the golden ratio keeps any number of consecutive colours far apart on the hue circle. */
const GOLDEN_RATIO_CONJUGATE = (Math.sqrt(5) - 1) / 2;

/** `count` bright, mutually distinct colours for overlays of an arbitrary (open-vocabulary) class list. */
export function distinctColours(count: number): Uint8Array {
  if (!Number.isInteger(count) || count < 0)
    throw new RangeError(`colour count must be a whole number, got ${count}`);
  const colours = new Uint8Array(count * 3);
  for (let i = 0; i < count; i++) {
    // Alternating saturation and value separates colours whose hues end up close once there are many.
    const saturation = i % 2 === 0 ? 0.8 : 0.55;
    const value = i % 3 === 2 ? 0.75 : 0.95;
    colours.set(hsvToRgb((i * GOLDEN_RATIO_CONJUGATE) % 1, saturation, value), i * 3);
  }
  return colours;
}

function hsvToRgb(hue: number, saturation: number, value: number): [number, number, number] {
  const channel = (n: number): number => {
    const k = (n + hue * 6) % 6;
    return Math.round(255 * (value - value * saturation * Math.max(0, Math.min(k, 4 - k, 1))));
  };
  return [channel(5), channel(3), channel(1)];
}
