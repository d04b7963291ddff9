/**
 * Shard-pattern brace expansion, the subset of bash / Python `braceexpand` (what webdataset uses) that shard
 * lists need: comma lists `{a,b}` (nestable, empty items allowed), integer ranges `{0..99}` with an optional
 * step `{0..99..10}`, either direction, zero-padded when a bound has a leading zero (`{007..010}`), and any
 * number of groups (the first group varies slowest). No character ranges and no backslash escapes.
 */

/** A pattern that cannot be expanded; the message quotes it. */
export class BracePatternError extends Error {
  override name = "BracePatternError";
}

const INTEGER_RANGE = /^(-?\d+)\.\.(-?\d+)(?:\.\.(-?\d+))?$/;

/** More names than any shard list holds (LAION-5B is ~0.5 M shards); refused before anything is built. */
export const MAX_EXPANDED_NAMES = 1_000_000;

function checkCount(count: number, pattern: string): void {
  if (count > MAX_EXPANDED_NAMES)
    throw new BracePatternError(
      `pattern "${pattern}" stands for ${count.toLocaleString("en")} names, more than ${MAX_EXPANDED_NAMES.toLocaleString("en")}; check its ranges`,
    );
}

/** Every name `pattern` stands for, in order; a pattern without braces stands for itself. */
export function expandBraces(pattern: string): string[] {
  return expandPart(pattern, pattern);
}

/** Expands `part` of `pattern` (which error messages quote). */
function expandPart(part: string, pattern: string): string[] {
  const open = part.indexOf("{");
  const strayClose = part.indexOf("}");
  if (open < 0 && strayClose < 0) return [part];
  if (open < 0 || strayClose < open) throw new BracePatternError(`unbalanced braces in pattern "${pattern}"`);
  const close = matchingClose(part, open, pattern);
  const prefix = part.slice(0, open);
  const alternatives = expandGroup(part.slice(open + 1, close), pattern);
  const suffixes = expandPart(part.slice(close + 1), pattern);
  checkCount(alternatives.length * suffixes.length, pattern);
  return alternatives.flatMap((alternative) => suffixes.map((suffix) => prefix + alternative + suffix));
}

function matchingClose(part: string, open: number, pattern: string): number {
  let depth = 0;
  for (let i = open; i < part.length; i++) {
    if (part[i] === "{") depth++;
    else if (part[i] === "}" && --depth === 0) return i;
  }
  throw new BracePatternError(`unbalanced braces in pattern "${pattern}"`);
}

/** The alternatives of one `{…}` group (its body without the braces). */
function expandGroup(body: string, pattern: string): string[] {
  const range = INTEGER_RANGE.exec(body);
  if (range) return integerRange(range[1], range[2], range[3], pattern);
  const items = splitTopLevelCommas(body);
  if (items.length < 2) {
    // bash would keep "{x}" literally; in a shard pattern it is far more likely a typo such as {0000-0099}.
    throw new BracePatternError(
      `"{${body}}" in pattern "${pattern}" is neither a comma list {a,b} nor an integer range {0..9}`,
    );
  }
  return items.flatMap((item) => expandPart(item, pattern));
}

function splitTopLevelCommas(body: string): string[] {
  const items: string[] = [];
  let depth = 0;
  let start = 0;
  for (let i = 0; i < body.length; i++) {
    if (body[i] === "{") depth++;
    else if (body[i] === "}") depth--;
    else if (body[i] === "," && depth === 0) {
      items.push(body.slice(start, i));
      start = i + 1;
    }
  }
  items.push(body.slice(start));
  return items;
}

/** `braceexpand`'s rule: a bound written with a leading zero pads every number to the wider bound's width. */
function integerRange(first: string, last: string, step: string | undefined, pattern: string): string[] {
  const hasLeadingZero = (bound: string) => /^-?0\d/.test(bound);
  const width = hasLeadingZero(first) || hasLeadingZero(last) ? Math.max(first.length, last.length) : 0;
  const format = (n: number) =>
    n < 0 ? `-${String(-n).padStart(width - 1, "0")}` : String(n).padStart(width, "0");
  const from = Number(first);
  const to = Number(last);
  const stride = Math.abs(Number(step ?? 1)) || 1;
  checkCount(Math.floor(Math.abs(to - from) / stride) + 1, pattern);
  const names: string[] = [];
  if (from <= to) for (let n = from; n <= to; n += stride) names.push(format(n));
  else for (let n = from; n >= to; n -= stride) names.push(format(n));
  return names;
}
