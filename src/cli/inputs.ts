import { readdir, stat } from "node:fs/promises";
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
      files.push(...entries.map((f) => join(input, f)));
    } else {
      files.push(input);
    }
  }
  if (files.length === 0)
    throw new Error(`no images (${[...IMAGE_EXTENSIONS].join(" ")}) in ${inputs.join(", ")}`);
  return files;
}
