/**
 * A folder of images with a caption index: `captions.jsonl` (`{"image": "relative/path.jpg", "caption": "…"}`
 * per line) or `captions.csv` (an `image,caption` header, RFC 4180 quoting). Paths are relative to the
 * index's folder (an image outside it is skipped unless `allowOutsidePaths`); extra fields or columns become the
 * pair's `meta`. The index is read whole (it is small next to the images); a malformed line is skipped and
 * reported as "line N" like a bad shard sample (`strict` refuses the source instead); images load lazily.
 */
import { readFile } from "node:fs/promises";
import { dirname, extname, isAbsolute, relative, resolve, sep } from "node:path";
import type { Rng } from "../engine/rng.js";
import { readImageBytes } from "../io/image.js";
import { ImageError } from "../io/pixels.js";
import {
  DataError,
  decodeSampleImage,
  type PairSourceOptions,
  type PendingSample,
  SampleError,
  type SampleStream,
  type SkippedSample,
  summarizeSkipped,
} from "./pairs.js";

interface IndexEntry {
  /** As written in the index; also the pair's key, so several captions of one image share it. */
  image: string;
  caption: string;
  meta?: Record<string, unknown>;
}

/** The index's entries as a sample stream; any problem with the index itself is a DataError at "file:line". */
export async function openCaptionIndex(indexFile: string, options: PairSourceOptions): Promise<SampleStream> {
  const text = await readIndexText(indexFile);
  const lines: IndexLines = { entries: [], bad: [] };
  if (extname(indexFile).toLowerCase() === ".csv") csvEntries(text, indexFile, lines);
  else jsonlEntries(text, indexFile, lines);
  if (lines.entries.length === 0)
    throw new DataError(
      `${indexFile}: no samples (the index lists no images${lines.bad.length ? `; ${summarizeSkipped(lines.bad)}` : ""})`,
    );
  const root = resolve(dirname(indexFile));
  return {
    description: indexFile,
    async *epoch(orderRng: Rng | undefined, report: (skip: SkippedSample) => void) {
      for (const skip of lines.bad) report(skip);
      for (const entry of orderRng ? orderRng.shuffle([...lines.entries]) : lines.entries) {
        const caption = entry.caption.trim();
        const path = resolve(root, entry.image);
        const skip = (reason: string) => report({ key: entry.image, source: indexFile, reason });
        if (caption === "") skip("empty caption");
        else if (!options.allowOutsidePaths && !isInside(path, root))
          skip(
            "image path outside the dataset folder (allowOutsidePaths / --allow-outside-paths permits it)",
          );
        else yield pendingSample(entry, caption, path, indexFile, options.maxPixels);
      }
    },
  };
}

/** The index's good entries, and its malformed lines as skipped samples keyed "line N". */
interface IndexLines {
  entries: IndexEntry[];
  bad: SkippedSample[];
}

function isInside(path: string, root: string): boolean {
  const fromRoot = relative(root, path);
  return fromRoot !== ".." && !fromRoot.startsWith(`..${sep}`) && !isAbsolute(fromRoot); // "..x.jpg" is inside
}

/** Runs `read` for one line of the index; a malformed line is recorded as a skipped sample instead of thrown. */
function readLine(lines: IndexLines, indexFile: string, line: number, read: () => IndexEntry): void {
  try {
    lines.entries.push(read());
  } catch (err) {
    if (!(err instanceof DataError)) throw err;
    const reason = `malformed index line (${err.message.replace(`${indexFile}:${line}: `, "")})`;
    lines.bad.push({ key: `line ${line}`, source: indexFile, reason });
  }
}

function pendingSample(
  { image: key, meta }: IndexEntry,
  caption: string,
  path: string,
  indexFile: string,
  maxPixels: number | undefined,
): PendingSample {
  const load = async () => {
    let bytes: Uint8Array;
    try {
      bytes = await readImageBytes(path);
    } catch (err) {
      if (err instanceof ImageError) throw new SampleError(`unreadable image file (${err.message})`);
      throw err;
    }
    return { key, image: await decodeSampleImage(bytes, maxPixels), caption, meta, source: indexFile };
  };
  return { key, source: indexFile, load };
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

async function readIndexText(indexFile: string): Promise<string> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(indexFile);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new DataError(
      code === "ENOENT" ? `${indexFile}: no such file` : `${indexFile}: ${(err as Error).message}`,
    );
  }
  try {
    return utf8.decode(bytes); // also drops a byte-order mark
  } catch {
    throw new DataError(`${indexFile}: not UTF-8 text`);
  }
}

function jsonlEntries(text: string, indexFile: string, lines: IndexLines): void {
  text.split("\n").forEach((line, i) => {
    if (line.trim() === "") return;
    const where = `${indexFile}:${i + 1}`;
    readLine(lines, indexFile, i + 1, () => {
      let record: unknown;
      try {
        record = JSON.parse(line);
      } catch (err) {
        throw new DataError(`${where}: not valid JSON (${(err as Error).message})`);
      }
      if (typeof record !== "object" || record === null || Array.isArray(record)) {
        throw new DataError(
          `${where}: expected an object {"image": …, "caption": …}, got ${line.trim().slice(0, 40)}`,
        );
      }
      return indexEntry(record as Record<string, unknown>, where);
    });
  });
}

function csvEntries(text: string, indexFile: string, lines: IndexLines): void {
  const [header, ...rows] = parseCsv(text, indexFile);
  if (header === undefined) return;
  const columns = header.fields;
  if (!columns.includes("image") || !columns.includes("caption")) {
    throw new DataError(
      `${indexFile}:${header.line}: the header must name the columns "image" and "caption", found ${columns.map((c) => JSON.stringify(c)).join(", ")}`,
    );
  }
  for (const { line, fields } of rows) {
    const where = `${indexFile}:${line}`;
    readLine(lines, indexFile, line, () => {
      if (fields.length !== columns.length) {
        throw new DataError(`${where}: ${fields.length} fields where the header has ${columns.length}`);
      }
      return indexEntry(Object.fromEntries(columns.map((column, i) => [column, fields[i]])), where);
    });
  }
}

/** Checks one record of either index format; `where` is "file:line". */
function indexEntry({ image, caption, ...rest }: Record<string, unknown>, where: string): IndexEntry {
  if (typeof image !== "string" || image === "") {
    throw new DataError(`${where}: "image" must be a non-empty path, got ${JSON.stringify(image)}`);
  }
  if (typeof caption !== "string") {
    throw new DataError(`${where}: "caption" must be a string, got ${JSON.stringify(caption)}`);
  }
  return Object.keys(rest).length > 0 ? { image, caption, meta: rest } : { image, caption };
}

interface CsvRecord {
  /** The line the record starts on (1-based); a quoted field can span lines. */
  line: number;
  fields: string[];
}

/**
 * RFC 4180: records end at LF or CRLF; a field in double quotes may hold commas, line breaks and doubled
 * quotes (""). Blank lines are skipped. Written here because nothing in node_modules parses CSV.
 */
export function parseCsv(text: string, file: string): CsvRecord[] {
  const records: CsvRecord[] = [];
  let line = 1;
  let record: CsvRecord = { line, fields: [] };
  let i = 0;
  while (i < text.length) {
    let field: string;
    if (text[i] === '"') {
      field = "";
      let from = i + 1;
      while (true) {
        const quote = text.indexOf('"', from);
        if (quote < 0) throw new DataError(`${file}:${line}: quoted field is never closed`);
        field += text.slice(from, quote);
        if (text[quote + 1] !== '"') {
          i = quote + 1;
          break;
        }
        field += '"';
        from = quote + 2;
      }
      line += field.split("\n").length - 1;
      if (i < text.length && text[i] !== "," && !text.startsWith("\n", i) && !text.startsWith("\r\n", i)) {
        throw new DataError(`${file}:${line}: unexpected ${JSON.stringify(text[i])} after a closing quote`);
      }
    } else {
      let end = i;
      while (end < text.length && text[end] !== "," && text[end] !== "\n") end++;
      field = text.slice(i, end);
      if (text[end] === "\n" && field.endsWith("\r")) field = field.slice(0, -1);
      i = end;
    }
    record.fields.push(field);
    if (text[i] === ",") {
      i++;
      if (i < text.length) continue;
      record.fields.push(""); // the text ends in a comma: one more, empty, field
    }
    // End of record: a line break or the end of the text.
    const isBlankLine = record.fields.length === 1 && record.fields[0] === "";
    if (!isBlankLine) records.push(record);
    i += text.startsWith("\r\n", i) ? 2 : 1;
    line++;
    record = { line, fields: [] };
  }
  return records;
}
