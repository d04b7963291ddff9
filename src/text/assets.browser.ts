/**
 * The tokenizer's data files in the browser (the twin of `assets.ts`): the merges fetched and gunzipped with the
 * browser's DecompressionStream, the entity tables bundled as JSON.
 */
import entities from "../../assets/html/html5_entities.json";
import { entityTablesFrom, type HtmlEntityTables } from "./entities.js";

const DEFAULT_VOCAB_URL = new URL("../../assets/clip/bpe_simple_vocab_16e6.txt.gz", import.meta.url);

export async function readClipVocabulary(path: string | URL = DEFAULT_VOCAB_URL): Promise<string> {
  try {
    const response = await fetch(path);
    if (!response.ok || !response.body) throw new Error(`HTTP ${response.status}`);
    const text = response.body
      .pipeThrough(new DecompressionStream("gzip"))
      .pipeThrough(new TextDecoderStream());
    let merges = "";
    for await (const chunk of text as unknown as AsyncIterable<string>) merges += chunk;
    return merges;
  } catch (cause) {
    throw new Error(`CLIP BPE vocabulary not readable at ${path}`, { cause });
  }
}

const tables = entityTablesFrom(entities);

export function htmlEntityTables(): HtmlEntityTables {
  return tables;
}
