import { randomBytes } from "node:crypto";
import { mkdir, open, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";

/**
 * Write `data` to `path` atomically: a temp file in the same folder, flushed to disk, then renamed over
 * the target, so a crash leaves either the old file or the new one and never half of one.
 */
export async function writeFileAtomic(path: string, data: Uint8Array | string): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  const temp = `${path}.${process.pid}.${randomBytes(4).toString("hex")}.tmp`;
  try {
    const handle = await open(temp, "w");
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(temp, path);
  } catch (err) {
    await rm(temp, { force: true });
    throw err;
  }
}

/**
 * Replace folder `dir` as a whole: `fill` writes the new content into a temporary folder beside it
 * (`.<name>.<random>.tmp`), which is then renamed into place, so readers see the old folder or the new one,
 * never a half-written one. The temporary folder is removed if `fill` fails.
 */
export async function replaceFolderAtomic(dir: string, fill: (temp: string) => Promise<void>): Promise<void> {
  const target = dir.replace(/[/\\]+$/, "");
  const temp = join(dirname(target), `.${basename(target)}.${randomBytes(4).toString("hex")}.tmp`);
  try {
    await mkdir(temp, { recursive: true });
    await fill(temp);
    await rm(target, { recursive: true, force: true });
    await rename(temp, target);
  } finally {
    await rm(temp, { recursive: true, force: true });
  }
}
