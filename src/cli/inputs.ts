import { readdir, readFile, stat } from "node:fs/promises";
import { basename, extname, join } from "node:path";
import { UsageError } from "./flags.js";
import { Counter, Progress } from "./progress.js";

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
  if (entries.length === 0) throw new UsageError(`${flag}: nothing in ${JSON.stringify(spec)}`);
  return entries;
}

/** Output names from the inputs' base names; a name seen before gets -2, -3, … so no output overwrites another. */
export function uniqueStems(files: string[]): string[] {
  const used = new Set<string>();
  return files.map((file) => {
    const stem = basename(file, extname(file));
    let name = stem;
    for (let n = 2; used.has(name); n++) name = `${stem}-${n}`;
    used.add(name);
    return name;
  });
}

/** Failures listed one by one at the end; the rest are counted. */
const LISTED_FAILURES = 5;

/**
 * Run `work` on every file independently (with its unique output stem): a file that fails is reported and the
 * others go on; at the end the failures are summarised on stderr and the exit code is 1 if any. Returns the
 * results of the files that worked, in order.
 */
export async function eachImage<T>(
  command: string,
  files: string[],
  work: (file: string, stem: string) => Promise<T>,
  say: (line: string) => void,
): Promise<{ results: T[]; failures: { file: string; reason: string }[] }> {
  const stems = uniqueStems(files);
  const items = files.map((file, i) => ({ name: file, stem: stems[i] }));
  return eachItem(command, items, files.length, ({ name, stem }) => work(name, stem), say);
}

/**
 * eachImage over any (async) sequence of named items, e.g. a stream of training pairs; `total` (when known)
 * gives a progress bar, else a running count.
 */
export async function eachItem<I extends { name: string }, T>(
  command: string,
  items: Iterable<I> | AsyncIterable<I>,
  total: number | undefined,
  work: (item: I) => Promise<T>,
  say: (line: string) => void,
): Promise<{ results: T[]; failures: { file: string; reason: string }[] }> {
  const progress =
    total === undefined
      ? new Counter(command, "images")
      : total > 1
        ? new Progress(command, total, "images")
        : undefined;
  const results: T[] = [];
  const failures: { file: string; reason: string }[] = [];
  let done = 0;
  for await (const item of items) {
    try {
      results.push(await work(item));
    } catch (err) {
      // most errors already start with the file's name; the reason is what follows it
      const message = (err as Error).message;
      const reason = message.startsWith(`${item.name}: `) ? message.slice(item.name.length + 2) : message;
      failures.push({ file: item.name, reason });
      say(`${item.name}: FAILED: ${reason}`);
    }
    progress?.update(++done);
  }
  if (progress instanceof Counter) progress.done();
  if (failures.length > 0) {
    console.error(`sseg ${command}: ${failures.length} of ${done} image(s) failed:`);
    for (const { file, reason } of failures.slice(0, LISTED_FAILURES)) console.error(`  ${file}: ${reason}`);
    if (failures.length > LISTED_FAILURES) console.error(`  … and ${failures.length - LISTED_FAILURES} more`);
    process.exitCode = 1;
  }
  return { results, failures };
}
