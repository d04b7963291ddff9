#!/usr/bin/env node
/**
 * Peak memory and time of the small inputs that once needed gigabytes (issue #23, "Memory"): each case runs in its
 * own Node process on the built package (dist/) and prints one markdown row: what it did (the error it gave, or the
 * value it read), its peak RSS and its wall time. The table is in docs/inference.md.
 *
 *   npm run build && node tools/memory-cases.mjs [checkout]
 *
 * With a checkout (a built worktree of an older commit) the same cases run on its dist/ instead: the "before".
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { pathToFileURL } from "node:url";
import sharp from "sharp";

const DIST = process.argv[2]
  ? pathToFileURL(join(process.argv[2], "dist/src/")).href
  : new URL("../dist/src/", import.meta.url).href;
const FIXTURES = new URL("../test/fixtures/weights/", import.meta.url).pathname;
const work = mkdtempSync(join(tmpdir(), "sseg-memory-"));

/** A valid 16000² PNG of one colour: a few hundred KB that decode to 768 MB of RGB. */
async function hugePng() {
  const path = join(work, "huge-16000.png");
  const data = await sharp({ create: { width: 16000, height: 16000, channels: 3, background: "#336699" } })
    .png({ compressionLevel: 9 })
    .toBuffer();
  writeFileSync(path, data);
  return path;
}

/** A pickle holding one 80 KB integer (LONG4): decoded byte by byte with a growing bigint it took 0.5 s. */
function longPickle() {
  const n = 80_000;
  const bytes = new Uint8Array(3 + 4 + n + 1);
  bytes.set([0x80, 2, 0x8b, n & 0xff, (n >> 8) & 0xff, (n >> 16) & 0xff, 0]);
  bytes.fill(0xff, 7, 7 + n - 1);
  bytes[7 + n - 1] = 0x7f;
  bytes[7 + n] = 0x2e; // STOP
  const path = join(work, "long-80k.pkl");
  writeFileSync(path, bytes);
  return path;
}

/** Runs `body` (module code with `path` in scope) in a fresh process; returns its outcome, peak RSS and time. */
function measure(path, body) {
  const script = `const path = ${JSON.stringify(path)};
const started = performance.now();
let outcome;
try { outcome = await (async () => { ${body} })(); } catch (err) { outcome = err.message; }
const ms = performance.now() - started;
console.log(JSON.stringify({ outcome, ms, maxRssKb: process.resourceUsage().maxRSS }));`;
  const run = spawnSync(process.execPath, ["--input-type=module", "-e", script], { encoding: "utf8" });
  if (run.status !== 0) throw new Error(`case ${path} crashed: ${run.stderr.trim().split("\n").at(-1)}`);
  return JSON.parse(run.stdout.trim().split("\n").at(-1));
}

const loadWeights = `const { loadWeights } = await import("${DIST}weights/index.js");
await loadWeights(path); return "loaded";`;
const cases = [
  ["`.pth` zip bomb", join(FIXTURES, "bomb.pth"), loadWeights],
  ["`.pth` claiming 3 GB", join(FIXTURES, "forged_size.pth"), loadWeights],
  ["`.pth` stride-0 view of 600 M", join(FIXTURES, "stride0.pth"), loadWeights],
  [
    "16000² PNG",
    await hugePng(),
    `const { readImage } = await import("${DIST}io/image.js");
const image = await readImage(path); return \`decoded \${image.width}×\${image.height}\`;`,
  ],
  [
    "80 KB pickled integer (LONG4)",
    longPickle(),
    `const { unpickle } = await import("${DIST}weights/pickle.js");
const { readFileSync } = await import("node:fs");
const value = unpickle(readFileSync(path), { resolveGlobal: () => undefined, source: path });
return \`decoded a \${value.toString(2).length}-bit integer\`;`,
  ],
  [
    "brace pattern `{0..9999999}`",
    "shards/{0..9999999}.tar",
    `const { expandBraces } = await import("${DIST}data/braces.js");
return \`expanded to \${expandBraces(path).length} names\`;`,
  ],
];

console.log("| case | input size | outcome | peak RSS | time |");
console.log("|---|---:|---|---:|---:|");
for (const [what, path, body] of cases) {
  const size = path.includes("{") ? `${path.length} B` : `${(statSync(path).size / 1024).toFixed(1)} KB`;
  const { outcome, ms, maxRssKb } = measure(path, body);
  const shown = outcome.replace(path, "<file>").replaceAll("|", "\\|");
  console.log(`| ${what} | ${size} | ${shown} | ${(maxRssKb / 1024).toFixed(0)} MB | ${ms.toFixed(0)} ms |`);
}
rmSync(work, { recursive: true, force: true });
