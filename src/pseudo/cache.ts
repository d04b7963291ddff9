/**
 * An on-disk cache of pseudo-mask grid labels keyed by a hash of the image pixels and everything that changes
 * the result (feature source, K, seed), so that training epochs and repeated runs cluster each image once.
 * One small file per image: "SSPM", u16 gridW, u16 gridH (little-endian), then gridW·gridH cluster ids.
 */
import { createHash } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import type { RgbImage } from "../io/pixels.js";

const MAGIC = "SSPM";
const HEADER_BYTES = 8;

export interface GridLabels {
  labels: Uint8Array;
  gridW: number;
  gridH: number;
}

export class MaskCache {
  hits = 0;
  misses = 0;

  constructor(readonly dir: string) {}

  /** The key of one image under one generator setting. */
  key(image: RgbImage, setting: string): string {
    return createHash("sha256")
      .update(`${setting}|${image.width}x${image.height}|`)
      .update(image.data)
      .digest("hex");
  }

  private path(key: string): string {
    return join(this.dir, key.slice(0, 2), `${key}.sspm`);
  }

  /** The cached grid labels, or undefined when absent or unreadable (a damaged entry is recomputed). */
  get(key: string): GridLabels | undefined {
    let bytes: Buffer;
    try {
      bytes = readFileSync(this.path(key));
    } catch {
      this.misses++;
      return undefined;
    }
    const gridW = bytes.length >= HEADER_BYTES ? bytes.readUInt16LE(4) : 0;
    const gridH = bytes.length >= HEADER_BYTES ? bytes.readUInt16LE(6) : 0;
    if (bytes.toString("latin1", 0, 4) !== MAGIC || bytes.length !== HEADER_BYTES + gridW * gridH) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    return { labels: new Uint8Array(bytes.subarray(HEADER_BYTES)), gridW, gridH };
  }

  /** Store atomically (temp file + rename), so a crash never leaves a half-written entry. */
  set(key: string, grid: GridLabels): void {
    const path = this.path(key);
    const bytes = Buffer.alloc(HEADER_BYTES + grid.labels.length);
    bytes.write(MAGIC, 0, "latin1");
    bytes.writeUInt16LE(grid.gridW, 4);
    bytes.writeUInt16LE(grid.gridH, 6);
    bytes.set(grid.labels, HEADER_BYTES);
    const temp = `${path}.${process.pid}.tmp`;
    try {
      mkdirSync(join(path, ".."), { recursive: true });
      writeFileSync(temp, bytes);
      renameSync(temp, path);
    } catch (err) {
      if (existsSync(temp)) rmSync(temp);
      throw new Error(`${this.dir}: cannot write the pseudo-mask cache (${(err as Error).message})`);
    }
  }
}
