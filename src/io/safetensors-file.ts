/** safetensors files in Node: read and parsed, or encoded and written atomically (the format: `safetensors.ts`). */
import { readFile } from "node:fs/promises";
import { writeFileAtomic } from "./atomic.js";
import {
  encodeSafetensors,
  parseSafetensors,
  SafetensorsError,
  type SafetensorsFile,
  type TensorToWrite,
} from "./safetensors.js";

/** Read a .safetensors file; errors name the path. */
export async function readSafetensors(path: string): Promise<SafetensorsFile> {
  let buffer: Buffer;
  try {
    buffer = await readFile(path);
  } catch (err) {
    throw new SafetensorsError(`${path}: cannot read (${(err as NodeJS.ErrnoException).code ?? err})`);
  }
  return parseSafetensors(new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength), path);
}

/** Write a .safetensors file atomically (temp file + rename). */
export async function writeSafetensors(
  path: string,
  tensors: Record<string, TensorToWrite>,
  metadata: Record<string, string> = {},
): Promise<void> {
  await writeFileAtomic(path, encodeSafetensors(tensors, metadata));
}
