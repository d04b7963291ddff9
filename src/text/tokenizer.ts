/**
 * OpenAI CLIP's byte-level BPE tokenizer (clip/simple_tokenizer.py and clip.tokenize, MIT), reimplemented to
 * produce the same ids: CLIP's text cleaning (ftfy.fix_text, html.unescape twice, whitespace collapse,
 * lower-casing), its pre-tokenising regex, the bytes→unicode symbol map and rank-ordered BPE merges.
 *
 * The reference is Python 3.11 (Unicode 14); Unicode properties, case mapping and normalisation come from the
 * JS engine here, so characters assigned after Unicode 14 may be split differently.
 */
import { htmlEntityTables, readClipVocabulary } from "./assets.js";

/** CLIP's `merges[1:49152-256-2+1]`: the merges after the header line, for a 49408-id vocabulary. */
const MERGE_COUNT = 49152 - 256 - 2;
const START_OF_TEXT = "<|startoftext|>";
const END_OF_TEXT = "<|endoftext|>";
const END_OF_WORD = "</w>";

const UTF8_ENCODER = new TextEncoder();
// ignoreBOM keeps a leading U+FEFF, as Python's errors="replace" UTF-8 decode does.
const UTF8_DECODER = new TextDecoder("utf-8", { ignoreBOM: true });

// ---------------------------------------------------------------------------------------------------------
// Python string semantics that differ from JavaScript's.

/** Python `regex`'s \s: unlike JS's \s it includes U+0085 and excludes U+FEFF. */
const PY_REGEX_SPACE = "\\t\\n\\v\\f\\r \\x85\\xa0\\u1680\\u2000-\\u200a\\u2028\\u2029\\u202f\\u205f\\u3000";
const WHITESPACE_RUN = new RegExp(`[${PY_REGEX_SPACE}]+`, "gu");
/** Python's str.strip() also strips the information separators U+001C–U+001F. */
const PY_STRIP_SPACE = new RegExp(`[${PY_REGEX_SPACE}\\x1c-\\x1f]`, "u");

function pythonStrip(text: string): string {
  let start = 0;
  let end = text.length;
  while (start < end && PY_STRIP_SPACE.test(text[start])) start++;
  while (end > start && PY_STRIP_SPACE.test(text[end - 1])) end--;
  return text.slice(start, end);
}

// ---------------------------------------------------------------------------------------------------------
// HTML character references: Python's html.unescape and ftfy's stricter unescape_html.

/** Windows-1252 for bytes 0x80–0x9F (undefined bytes map to themselves), used by both html and ftfy. */
const WINDOWS_1252_C1 =
  "\u20ac\x81\u201a\u0192\u201e\u2026\u2020\u2021\u02c6\u2030\u0160\u2039\u0152\x8d\u017d\x8f" +
  "\x90\u2018\u2019\u201c\u201d\u2022\u2013\u2014\u02dc\u2122\u0161\u203a\u0153\x9d\u017e\u0178";

const CHARACTER_REFERENCE = /&(#[0-9]+;?|#[xX][0-9a-fA-F]+;?|[^\t\n\f <&#;]{1,32};?)/gu;

/** Python's html.unescape: HTML5 rules, including legacy names without ";" and prefix matches. */
function htmlUnescape(text: string): string {
  if (!text.includes("&")) return text;
  return text.replace(CHARACTER_REFERENCE, (_match, reference: string) =>
    reference.startsWith("#") ? decodeNumericReference(reference) : decodeNamedReference(reference),
  );
}

function decodeNumericReference(reference: string): string {
  const isHex = reference[1] === "x" || reference[1] === "X";
  const codePoint = Number.parseInt(reference.slice(isHex ? 2 : 1).replace(/;$/, ""), isHex ? 16 : 10);
  if (codePoint === 0) return "\ufffd";
  if (codePoint >= 0x80 && codePoint <= 0x9f) return WINDOWS_1252_C1[codePoint - 0x80];
  if ((codePoint >= 0xd800 && codePoint <= 0xdfff) || codePoint > 0x10ffff) return "\ufffd";
  const isInvalid =
    (codePoint >= 0x01 && codePoint <= 0x08) ||
    codePoint === 0x0b ||
    (codePoint >= 0x0e && codePoint <= 0x1f) ||
    codePoint === 0x7f ||
    (codePoint >= 0xfdd0 && codePoint <= 0xfdef) ||
    (codePoint & 0xfffe) === 0xfffe;
  return isInvalid ? "" : String.fromCodePoint(codePoint);
}

function decodeNamedReference(reference: string): string {
  const { html5 } = htmlEntityTables();
  const whole = html5.get(reference);
  if (whole !== undefined) return whole;
  // The longest known prefix wins ("&ampfoo" is "&foo"); names are ASCII, so UTF-16 lengths match Python's.
  for (let length = reference.length - 1; length > 1; length--) {
    const prefix = html5.get(reference.slice(0, length));
    if (prefix !== undefined) return prefix + reference.slice(length);
  }
  return `&${reference}`;
}

const FTFY_ENTITY = /&#?[0-9A-Za-z]{1,24};/g;

/** ftfy's unescape_html: only references ending in ";", plus all-caps aliases such as "&EACUTE;". */
function ftfyUnescapeHtml(text: string): string {
  return text.replace(FTFY_ENTITY, (entity) => {
    const { html5, ftfyUppercase } = htmlEntityTables();
    const named = html5.get(entity.slice(1)) ?? ftfyUppercase.get(entity);
    if (named !== undefined) return named;
    if (!entity.startsWith("&#")) return entity;
    const decoded = htmlUnescape(entity);
    return decoded.includes(";") ? entity : decoded;
  });
}

// ---------------------------------------------------------------------------------------------------------
// ftfy.fix_text (ftfy 6.3, default settings).

const C1_CONTROL = /[\x80-\x9f]/g;
const LATIN_LIGATURES: Record<string, string> = {
  "\u0132": "IJ",
  "\u0133": "ij",
  "\u0149": "\u02bcn",
  "\u01f1": "DZ",
  "\u01f2": "Dz",
  "\u01f3": "dz",
  "\u01c4": "D\u017d",
  "\u01c5": "D\u017e",
  "\u01c6": "d\u017e",
  "\u01c7": "LJ",
  "\u01c8": "Lj",
  "\u01c9": "lj",
  "\u01ca": "NJ",
  "\u01cb": "Nj",
  "\u01cc": "nj",
  "\ufb00": "ff",
  "\ufb01": "fi",
  "\ufb02": "fl",
  "\ufb03": "ffi",
  "\ufb04": "ffl",
  "\ufb05": "\u017ft",
  "\ufb06": "st",
};
const LATIN_LIGATURE = new RegExp(`[${Object.keys(LATIN_LIGATURES).join("")}]`, "g");
/** Full-width ASCII, half-width katakana/hangul and the ideographic space. */
const ALTERNATE_WIDTH = /[\u3000\uff01-\uffef]/g;
const CURLY_SINGLE_QUOTE = /[\u02bc\u2018-\u201b]/g;
const CURLY_DOUBLE_QUOTE = /[\u201c-\u201f]/g;
// biome-ignore lint/suspicious/noControlCharactersInRegex: ANSI escapes start with ESC.
const TERMINAL_ESCAPE = /\x1b\[[\p{Nd};]*[a-zA-Z]/gu;
// biome-ignore lint/suspicious/noControlCharactersInRegex: removing these control characters is the point.
const CONTROL_CHARACTER = /[\x00-\x08\x0b\x0e-\x1f\x7f\u206a-\u206f\ufeff\ufff9-\ufffc]/g;

/**
 * ftfy.fix_text line by line. Omitted: fix_encoding (mojibake repair needs ftfy's statistical badness
 * heuristic and legacy codecs, and leaves well-formed text unchanged) and the 1M-character segment cap.
 */
function ftfyFixText(text: string): string {
  let unescapeHtml = true;
  let fixed = "";
  for (let start = 0; start < text.length; ) {
    const newline = text.indexOf("\n", start);
    const end = newline < 0 ? text.length : newline + 1;
    const line = text.slice(start, end);
    // ftfy takes a "<" as a sign of real HTML and stops unescaping for the rest of the text.
    if (line.includes("<")) unescapeHtml = false;
    fixed += ftfyFixLine(line, unescapeHtml);
    start = end;
  }
  return fixed;
}

/**
 * ftfy's fixers in its order, repeated until nothing changes. Two need no step here: fix_line_breaks only
 * swaps one whitespace character for another, and a lone surrogate tokenises like the U+FFFD that
 * fix_surrogates makes of it (TextEncoder writes it as U+FFFD).
 */
function ftfyFixLine(line: string, unescapeHtml: boolean): string {
  for (;;) {
    const fixed = (unescapeHtml ? ftfyUnescapeHtml(line) : line)
      .replace(C1_CONTROL, (control) => WINDOWS_1252_C1[control.charCodeAt(0) - 0x80])
      .replace(LATIN_LIGATURE, (ligature) => LATIN_LIGATURES[ligature])
      .replace(ALTERNATE_WIDTH, (char) => (char === "\u3000" ? " " : char.normalize("NFKC")))
      .replace(CURLY_SINGLE_QUOTE, "'")
      .replace(CURLY_DOUBLE_QUOTE, '"')
      .replace(TERMINAL_ESCAPE, "")
      .replace(CONTROL_CHARACTER, "")
      .normalize("NFC");
    if (fixed === line) return fixed;
    line = fixed;
  }
}

/** simple_tokenizer's basic_clean, whitespace_clean and lower(). */
function cleanText(text: string): string {
  const basic = pythonStrip(htmlUnescape(htmlUnescape(ftfyFixText(text))));
  return pythonStrip(basic.replace(WHITESPACE_RUN, " ")).toLowerCase();
}

// ---------------------------------------------------------------------------------------------------------
// Pre-tokenising and byte symbols.

/** CLIP's pattern with Python's \s. */
const PRE_TOKEN = new RegExp(
  `<\\|startoftext\\|>|<\\|endoftext\\|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^${PY_REGEX_SPACE}\\p{L}\\p{N}]+`,
  "giu",
);
/** U+0345 case-folds to ι: JS /iu takes it for a letter, Python's regex matches it nowhere (a separator). */
const YPOGEGRAMMENI = /\u0345/g;

/** GPT-2's bytes_to_unicode: printable Latin-1 bytes stand for themselves, the rest map to U+0100 upwards. */
const isPrintableByte = (byte: number): boolean =>
  (byte >= 0x21 && byte <= 0x7e) || (byte >= 0xa1 && byte <= 0xac) || (byte >= 0xae && byte <= 0xff);
const ALL_BYTES = Array.from({ length: 256 }, (_, byte) => byte);
/** Vocabulary order of the byte symbols: printable bytes first, as in the Python dict. */
const BYTES_IN_VOCAB_ORDER = [
  ...ALL_BYTES.filter(isPrintableByte),
  ...ALL_BYTES.filter((b) => !isPrintableByte(b)),
];
let shiftedSymbols = 0;
const SYMBOL_OF_BYTE = ALL_BYTES.map((byte) =>
  String.fromCharCode(isPrintableByte(byte) ? byte : 256 + shiftedSymbols++),
);
const BYTE_OF_SYMBOL = new Map(SYMBOL_OF_BYTE.map((symbol, byte) => [symbol, byte]));

function toByteSymbols(piece: string): string {
  let symbols = "";
  for (const byte of UTF8_ENCODER.encode(piece)) symbols += SYMBOL_OF_BYTE[byte];
  return symbols;
}

// ---------------------------------------------------------------------------------------------------------

export class ClipTokenizer {
  readonly vocabSize: number;
  readonly startOfTextId: number;
  readonly endOfTextId: number;
  private readonly encoder: Map<string, number>;
  private readonly decoder: readonly string[];
  /** "first second" → merge rank (lower merges first). */
  private readonly mergeRanks = new Map<string, number>();
  private readonly bpeCache = new Map<string, readonly string[]>([
    [START_OF_TEXT, [START_OF_TEXT]],
    [END_OF_TEXT, [END_OF_TEXT]],
  ]);

  /** Reads a gzipped merges file; by default the vendored CLIP vocabulary in assets/clip/. */
  static async load(path?: string | URL): Promise<ClipTokenizer> {
    return new ClipTokenizer(await readClipVocabulary(path));
  }

  /** From the uncompressed merges text: a version header line, then one "first second" pair per line. */
  constructor(mergesText: string) {
    const merges = mergesText.split("\n").slice(1, MERGE_COUNT + 1);
    if (merges.length < MERGE_COUNT) {
      throw new Error(`CLIP BPE vocabulary has ${merges.length} merges, expected ${MERGE_COUNT}`);
    }
    const byteSymbols = BYTES_IN_VOCAB_ORDER.map((byte) => SYMBOL_OF_BYTE[byte]);
    const vocab = [...byteSymbols, ...byteSymbols.map((symbol) => symbol + END_OF_WORD)];
    merges.forEach((merge, rank) => {
      const pair = merge.split(" ");
      if (pair.length !== 2) {
        throw new Error(`CLIP BPE merge ${rank + 1} is not a pair: ${JSON.stringify(merge)}`);
      }
      this.mergeRanks.set(merge, rank);
      vocab.push(pair[0] + pair[1]);
    });
    vocab.push(START_OF_TEXT, END_OF_TEXT);
    this.encoder = new Map(vocab.map((symbol, id) => [symbol, id]));
    this.decoder = vocab;
    this.vocabSize = this.encoder.size;
    this.startOfTextId = this.encoder.get(START_OF_TEXT)!;
    this.endOfTextId = this.encoder.get(END_OF_TEXT)!;
  }

  /** BPE ids of the cleaned text, without start/end tokens. */
  encode(text: string): number[] {
    const ids: number[] = [];
    const cleaned = cleanText(text).replace(YPOGEGRAMMENI, " ");
    for (const [piece] of cleaned.matchAll(PRE_TOKEN)) {
      for (const symbol of this.bpe(toByteSymbols(piece))) ids.push(this.encoder.get(symbol)!);
    }
    return ids;
  }

  /** Text of the ids; every word ends in a space, invalid UTF-8 becomes U+FFFD (as CLIP's decode). */
  decode(ids: Iterable<number>): string {
    const bytes: number[] = [];
    for (const id of ids) {
      const symbol = this.decoder[id];
      if (symbol === undefined) {
        throw new RangeError(`token id ${id} is outside the vocabulary 0..${this.vocabSize - 1}`);
      }
      for (const char of symbol) bytes.push(BYTE_OF_SYMBOL.get(char)!);
    }
    return UTF8_DECODER.decode(new Uint8Array(bytes)).replaceAll(END_OF_WORD, " ");
  }

  /** clip.tokenize(texts, contextLength, truncate=True): one zero-padded row per text, rows concatenated. */
  tokenize(texts: string | readonly string[], contextLength = 77): Int32Array {
    if (!Number.isInteger(contextLength) || contextLength < 1) {
      throw new RangeError(`contextLength must be a positive integer, got ${contextLength}`);
    }
    const list = typeof texts === "string" ? [texts] : texts;
    const rows = new Int32Array(list.length * contextLength);
    list.forEach((text, row) => {
      const tokens = [this.startOfTextId, ...this.encode(text), this.endOfTextId].slice(0, contextLength);
      // A truncated row still ends in EOT: CLIP pools the text feature at the EOT position.
      tokens[tokens.length - 1] = this.endOfTextId;
      rows.set(tokens, row * contextLength);
    });
    return rows;
  }

  /** Merges the lowest-ranked adjacent pair everywhere until no known pair is left. */
  private bpe(token: string): readonly string[] {
    const cached = this.bpeCache.get(token);
    if (cached) return cached;
    let word = [...token];
    word[word.length - 1] += END_OF_WORD;
    while (word.length > 1) {
      let bestRank = Number.POSITIVE_INFINITY;
      let bestAt = -1;
      for (let i = 0; i + 1 < word.length; i++) {
        const rank = this.mergeRanks.get(`${word[i]} ${word[i + 1]}`);
        if (rank !== undefined && rank < bestRank) {
          bestRank = rank;
          bestAt = i;
        }
      }
      if (bestAt < 0) break;
      const first = word[bestAt];
      const second = word[bestAt + 1];
      const merged: string[] = [];
      for (let i = 0; i < word.length; i++) {
        if (word[i] === first && word[i + 1] === second) {
          merged.push(first + second);
          i++;
        } else {
          merged.push(word[i]);
        }
      }
      word = merged;
    }
    this.bpeCache.set(token, word);
    return word;
  }
}
