/**
 * The tokenizer's data files in Node: the gzipped CLIP merges and the HTML entity tables, read from assets/.
 * Browser builds map this module to `assets.browser.ts` (fetch and the bundled JSON), so the tokenizer is the same.
 */
import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { gunzip } from "node:zlib";
import { entityTablesFrom, type HtmlEntityTables } from "./entities.js";

const DEFAULT_VOCAB_URL = new URL("../../../assets/clip/bpe_simple_vocab_16e6.txt.gz", import.meta.url);
const HTML_ENTITIES_URL = new URL("../../../assets/html/html5_entities.json", import.meta.url);
const gunzipAsync = promisify(gunzip);

/** The uncompressed merges text of a gzipped merges file (default: the vendored CLIP vocabulary). */
export async function readClipVocabulary(path: string | URL = DEFAULT_VOCAB_URL): Promise<string> {
  const shownPath = path instanceof URL ? fileURLToPath(path) : path;
  try {
    const bytes = await gunzipAsync(await readFile(path));
    return new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch (cause) {
    throw new Error(`CLIP BPE vocabulary not readable at ${shownPath}`, { cause });
  }
}

let tables: HtmlEntityTables | undefined;

/** Loaded on first use: only text containing "&" needs it. */
export function htmlEntityTables(): HtmlEntityTables {
  if (!tables) {
    const path = fileURLToPath(HTML_ENTITIES_URL);
    try {
      tables = entityTablesFrom(JSON.parse(readFileSync(path, "utf8")));
    } catch (cause) {
      throw new Error(`HTML entity table not readable at ${path}`, { cause });
    }
  }
  return tables;
}
