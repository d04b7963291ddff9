/**
 * The tokenizer's data files in the browser (the twin of `assets.ts`): the merges fetched and gunzipped with the
 * browser's DecompressionStream; the entity tables fetched with them, since ClipTokenizer.load() is the one way in.
 */
import { entityTablesFrom, type HtmlEntityTables } from "./entities.js";

const DEFAULT_VOCAB_URL = new URL("../../../assets/clip/bpe_simple_vocab_16e6.txt.gz", import.meta.url);
const HTML_ENTITIES_URL = new URL("../../../assets/html/html5_entities.json", import.meta.url);

let tables: HtmlEntityTables | undefined;

async function fetchOk(url: string | URL): Promise<Response> {
  const response = await fetch(url);
  if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
  return response;
}

export async function readClipVocabulary(path: string | URL = DEFAULT_VOCAB_URL): Promise<string> {
  try {
    tables ??= entityTablesFrom(await (await fetchOk(HTML_ENTITIES_URL)).json());
    const body = (await fetchOk(path)).body as ReadableStream<Uint8Array>;
    // Node's and the DOM's stream typings disagree on BufferSource; at run time this is the browser's
    const gunzip = new DecompressionStream("gzip") as unknown as ReadableWritablePair<Uint8Array, Uint8Array>;
    return await new Response(body.pipeThrough(gunzip)).text();
  } catch (cause) {
    throw new Error(`CLIP BPE vocabulary not readable at ${path}`, { cause });
  }
}

export function htmlEntityTables(): HtmlEntityTables {
  if (!tables)
    throw new Error("HTML entity tables not loaded: create the tokenizer with ClipTokenizer.load()");
  return tables;
}
