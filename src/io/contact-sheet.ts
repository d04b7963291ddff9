/**
 * A contact sheet: many result pictures (overlays with their legends) shrunk to one width and laid out in a grid,
 * each under its title, so a run's results can be looked at in one picture.
 */
import sharp, { type OverlayOptions as SharpOverlay } from "sharp";
import { composeOnWhite, cropToWidth, rawRgb, renderText } from "./label-png.js";
import type { RgbImage } from "./pixels.js";

export interface ContactSheetOptions {
  /** Width every tile is shrunk (never enlarged) to. */
  tileWidth?: number;
  columns?: number;
}

const DEFAULT_TILE_WIDTH = 320;
const GAP = 10;
const TITLE_GAP = 4;

/** A tile for the sheet: the picture shrunk to `tileWidth` (sharp's Lanczos), small so a run can keep many. */
export async function contactTile(image: RgbImage, tileWidth = DEFAULT_TILE_WIDTH): Promise<RgbImage> {
  if (image.width <= tileWidth) return image;
  const raw = { width: image.width, height: image.height, channels: 3 as const };
  return rawRgb(sharp(image.data, { raw }).resize({ width: tileWidth }));
}

/** Tiles (each under its title) in rows of `columns`, on white; every row as tall as its tallest tile. */
export async function renderContactSheet(
  tiles: readonly { title: string; image: RgbImage }[],
  options: ContactSheetOptions = {},
): Promise<RgbImage> {
  const { tileWidth = DEFAULT_TILE_WIDTH, columns = 3 } = options;
  if (tiles.length === 0) throw new RangeError("contact sheet: no tiles");
  const shrunk = await Promise.all(
    tiles.map(async ({ title, image }) => ({ title, image: await contactTile(image, tileWidth) })),
  );
  const titles = await Promise.all(shrunk.map(({ title }) => renderText(title)));
  const cellWidth = Math.max(...shrunk.map(({ image }) => image.width));
  const layers: SharpOverlay[] = [];
  let top = GAP;
  for (let start = 0; start < shrunk.length; start += columns) {
    let rowHeight = 0;
    for (let i = start; i < Math.min(start + columns, shrunk.length); i++) {
      const left = GAP + (i - start) * (cellWidth + GAP);
      const { image } = shrunk[i];
      layers.push({ input: await cropToWidth(titles[i], cellWidth), top, left });
      const raw = { width: image.width, height: image.height, channels: 3 as const };
      const imageTop = top + titles[i].height + TITLE_GAP;
      layers.push({ input: Buffer.from(image.data), raw, top: imageTop, left });
      rowHeight = Math.max(rowHeight, imageTop - top + image.height);
    }
    top += rowHeight + GAP;
  }
  const used = Math.min(columns, shrunk.length);
  const width = GAP + used * (cellWidth + GAP);
  return composeOnWhite(width, top, layers);
}
