import { readdir, readFile, stat } from "node:fs/promises";
import { extname, join } from "node:path";

const IMAGE_EXTENSIONS = new Set([".jpg", ".jpeg", ".png", ".webp", ".gif"]);

/** Image files named directly or found (non-recursively, sorted) in the named folders. */
export async function listImages(inputs: string[]): Promise<string[]> {
  const files: string[] = [];
  for (const input of inputs) {
    const info = await stat(input).catch(() => {
      throw new Error(`no such image file or folder: ${input}`);
    });
    if (info.isDirectory()) {
      const entries = (await readdir(input))
        .filter((f) => IMAGE_EXTENSIONS.has(extname(f).toLowerCase()))
        .sort();
      if (entries.length === 0)
        throw new Error(`${input}: no images (${[...IMAGE_EXTENSIONS].join(" ")}) in this folder`);
      for (const f of entries) files.push(join(input, f)); // no spread: a folder may hold 10⁶ images
    } else {
      files.push(input);
    }
  }
  if (files.length === 0) throw new Error("no images given");
  return files;
}

/**
 * "a,b,c" or "@file.txt" (one entry per line) → trimmed, non-empty entries; `flag` names the option in errors.
 * Duplicates and other vocabulary rules are checked by the segmenter.
 */
export async function parseList(spec: string, flag: string): Promise<string[]> {
  const fromFile = spec.startsWith("@");
  const text = fromFile
    ? await readFile(spec.slice(1), "utf8").catch((err: NodeJS.ErrnoException) => {
        throw new Error(`${flag}: cannot read ${spec.slice(1)} (${err.code})`);
      })
    : spec;
  const entries = text
    .split(fromFile ? /\r?\n/ : ",")
    .map((s) => s.trim())
    .filter(Boolean);
  if (entries.length === 0) throw new Error(`${flag}: nothing in ${JSON.stringify(spec)}`);
  return entries;
}
