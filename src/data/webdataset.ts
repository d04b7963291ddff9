/**
 * webdataset tar shards as img2dataset writes them: members `{key}.jpg|jpeg|png|webp`, `{key}.txt` (the
 * caption) and an optional `{key}.json` (meta), adjacent in the tar. The tar is streamed member by member
 * (tar-stream), so a shard never has to fit in memory; images are decoded later, as samples are yielded.
 *
 * Members are grouped into samples as webdataset's `tar_file_iterator` + `group_by_keys` do: only regular
 * files, `__…__` metadata members ignored, the name split by `base_plus_ext` (below), the extension
 * lower-cased, a sample ends where the key changes or the shard ends (webdataset's end-of-shard marker), so
 * members of one sample must be adjacent. Where webdataset raises (duplicate member, broken tar), the
 * sample is skipped and reported instead.
 */
import { createReadStream } from "node:fs";
import { extract, type Header } from "tar-stream";
import type { Rng } from "../engine/rng.js";
import { BracePatternError, expandBraces } from "./braces.js";
import {
  DataError,
  decodeSampleImage,
  isFile,
  type PairSourceOptions,
  type PendingSample,
  type SampleStream,
  type SkippedSample,
} from "./pairs.js";

/** Shards named by `pattern` (a path, braces allowed); every name must be an existing file. */
export async function openWebDataset(pattern: string, options: PairSourceOptions): Promise<SampleStream> {
  const shards = await existingShards(pattern);
  return {
    description: pattern,
    async *epoch(orderRng: Rng | undefined, report: (skip: SkippedSample) => void) {
      for (const shard of orderRng ? orderRng.shuffle([...shards]) : shards) {
        yield* readShard(shard, report, options.maxPixels);
      }
    },
  };
}

const SHOWN_MISSING = 3;

async function existingShards(pattern: string): Promise<string[]> {
  let names: string[];
  try {
    names = expandBraces(pattern);
  } catch (err) {
    if (err instanceof BracePatternError) throw new DataError(err.message);
    throw err;
  }
  const missing: string[] = [];
  for (const name of names) if (!(await isFile(name))) missing.push(name);
  if (names.length === 1 && missing.length === 1) throw new DataError(`${pattern}: no such file`);
  if (missing.length === names.length) {
    throw new DataError(`${pattern}: pattern matches no file (none of its ${names.length} names exists)`);
  }
  if (missing.length > 0) {
    const more = missing.length > SHOWN_MISSING ? ` and ${missing.length - SHOWN_MISSING} more` : "";
    throw new DataError(
      `${pattern}: ${missing.length} of ${names.length} shards do not exist: ${missing.slice(0, SHOWN_MISSING).join(", ")}${more}`,
    );
  }
  return names;
}

/**
 * webdataset's `base_plus_ext`, the same regular expression: the key is everything up to the first dot of
 * the file name (directory parts keep their dots), the extension is the rest; a file name starting with a
 * dot, or without one, has no key (webdataset then ignores the member).
 */
export function splitMemberName(name: string): { key: string; extension: string } | undefined {
  const match = /^((?:.*\/|)[^.]+)[.]([^/]*)$/.exec(name);
  return match ? { key: match[1], extension: match[2] } : undefined;
}

/** webdataset's `meta_prefix`/`meta_suffix` test and its `skip_meta` pattern. */
function isMetadataMember(name: string): boolean {
  return (
    (!name.includes("/") && name.startsWith("__") && name.endsWith("__")) || /^__[^/]*__($|\/)/.test(name)
  );
}

interface TarMember {
  name: string;
  key: string;
  /** Lower-cased, as webdataset does. */
  extension: string;
  bytes: Uint8Array;
}

/** The tar stopped making sense (truncated, corrupt header, unreadable file), inside `memberName` if set. */
class BrokenTarError extends Error {
  constructor(
    message: string,
    readonly memberName: string | undefined,
  ) {
    super(message);
  }

  /** The sample the broken member belonged to. */
  get key(): string | undefined {
    return this.memberName === undefined
      ? undefined
      : (splitMemberName(this.memberName)?.key ?? this.memberName);
  }
}

/** One shard's samples; a broken tar ends the shard with a report, never an exception. */
async function* readShard(
  shard: string,
  report: (skip: SkippedSample) => void,
  maxPixels: number | undefined,
): AsyncGenerator<PendingSample> {
  try {
    for await (const group of groupByKey(tarMembers(shard))) {
      const parsed = parseSample(group);
      if ("reason" in parsed) report({ key: group.key, source: shard, reason: parsed.reason });
      else {
        const { key } = group;
        const { caption, meta, imageBytes } = parsed;
        yield {
          key,
          source: shard,
          load: async () => ({
            key,
            image: await decodeSampleImage(imageBytes, maxPixels),
            caption,
            meta,
            source: shard,
          }),
        };
      }
    }
  } catch (err) {
    if (!(err instanceof BrokenTarError)) throw err;
    report(
      err.memberName === undefined
        ? {
            key: "(rest of shard)",
            source: shard,
            reason: `unreadable tar, rest of shard skipped (${err.message})`,
          }
        : {
            key: err.key!,
            source: shard,
            reason: `truncated tar member (${err.memberName}: ${err.message})`,
          },
    );
  }
}

/** The regular, non-metadata members of a shard with a key, streamed; a broken tar throws `BrokenTarError`. */
async function* tarMembers(shard: string): AsyncGenerator<TarMember> {
  const file = createReadStream(shard);
  const entries = extract();
  file.on("error", (err) => entries.destroy(err));
  file.pipe(entries);
  let reading: string | undefined;
  try {
    for await (const entry of entries) {
      reading = entry.header.name;
      const bytes = await readEntry(entry);
      reading = undefined;
      const member = memberOf(entry.header, bytes);
      if (member) yield member;
    }
  } catch (err) {
    throw new BrokenTarError((err as Error).message, reading);
  } finally {
    file.destroy();
  }
}

function memberOf(header: Header, bytes: Uint8Array): TarMember | undefined {
  const isRegularFile = header.type === "file" || header.type === "contiguous-file";
  if (!isRegularFile || isMetadataMember(header.name)) return undefined;
  const split = splitMemberName(header.name);
  if (!split) return undefined;
  return { name: header.name, key: split.key, extension: split.extension.toLowerCase(), bytes };
}

/** Copies the member out of tar-stream's read chunks, so a buffered sample does not pin a whole chunk. */
async function readEntry(entry: AsyncIterable<unknown>): Promise<Uint8Array> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of entry) chunks.push(chunk as Uint8Array);
  return Buffer.concat(chunks);
}

interface MemberGroup {
  key: string;
  membersByExtension: Map<string, Uint8Array>;
  /** The first member whose extension the sample already had. */
  duplicate?: string;
}

/**
 * webdataset's `group_by_keys` within one shard. On a broken tar the sample being read is dropped, but the
 * one before it is complete and still comes out before the error.
 */
async function* groupByKey(members: AsyncIterable<TarMember>): AsyncGenerator<MemberGroup> {
  let group: MemberGroup | undefined;
  try {
    for await (const member of members) {
      if (group && group.key !== member.key) {
        yield group;
        group = undefined;
      }
      group ??= { key: member.key, membersByExtension: new Map() };
      if (group.membersByExtension.has(member.extension)) group.duplicate ??= member.name;
      else group.membersByExtension.set(member.extension, member.bytes);
    }
  } catch (err) {
    if (group && !(err instanceof BrokenTarError && err.key === group.key)) yield group;
    throw err;
  }
  if (group) yield group;
}

const IMAGE_EXTENSIONS = ["jpg", "jpeg", "png", "webp"];
const CAPTION_EXTENSION = "txt";
const META_EXTENSION = "json";
const utf8 = new TextDecoder("utf-8", { fatal: true });

interface ParsedSample {
  imageBytes: Uint8Array;
  caption: string;
  meta?: Record<string, unknown>;
}

/** The sample's parts, or why it is skipped; the image is only located here, decoding comes later. */
function parseSample({ membersByExtension, duplicate }: MemberGroup): ParsedSample | { reason: string } {
  if (duplicate !== undefined) return { reason: `duplicate member (${duplicate})` };
  const imageExtension = IMAGE_EXTENSIONS.find((extension) => membersByExtension.has(extension));
  const captionBytes = membersByExtension.get(CAPTION_EXTENSION);
  if (imageExtension === undefined || captionBytes === undefined) {
    const missing = [imageExtension === undefined && "image", captionBytes === undefined && "caption"];
    const found = [...membersByExtension.keys()].map((extension) => `.${extension}`).join(", ");
    return { reason: `no ${missing.filter(Boolean).join(" or ")} member (found only ${found})` };
  }
  let caption: string;
  try {
    caption = utf8.decode(captionBytes).trim();
  } catch {
    return { reason: "caption is not valid UTF-8" };
  }
  if (caption === "") return { reason: "empty caption" };
  const parsed: ParsedSample = { imageBytes: membersByExtension.get(imageExtension)!, caption };
  const metaBytes = membersByExtension.get(META_EXTENSION);
  if (metaBytes === undefined) return parsed;
  try {
    const meta: unknown = JSON.parse(utf8.decode(metaBytes));
    if (typeof meta !== "object" || meta === null || Array.isArray(meta)) {
      return { reason: "meta is not a JSON object (.json)" };
    }
    parsed.meta = meta as Record<string, unknown>;
  } catch (err) {
    return { reason: `meta is not valid JSON (${(err as Error).message})` };
  }
  return parsed;
}
