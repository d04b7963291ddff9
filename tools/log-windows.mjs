#!/usr/bin/env node
/**
 * A training run's log.jsonl as a markdown table of means over windows of steps: the losses and, for the naming
 * recipe, the batch diagnostics (`naming`: no-object probability, presence of named / other nouns, noun cosine,
 * noun top-1; the unclaimed-region loss where the run has it) — the tables of docs/naming.md — and then the run's
 * validation records. Several runs give one table each, on the same windows.
 *
 *   node tools/log-windows.mjs runs/naming-frozen [runs/naming-lr3e-4-2h …] [--every 300] [--last 50]
 *
 * --every: window length in steps (default 100); --last: average only the last n steps of each window
 * (default: the whole window).
 */
import { parseArgs } from "node:util";
import { readLog } from "../dist/src/train/log.js";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { every: { type: "string", default: "100" }, last: { type: "string" } },
});
const every = Number(values.every);
const last = values.last === undefined ? every : Number(values.last);
if (!Number.isInteger(every) || every < 1)
  throw new Error(`--every: expected a positive integer, got ${values.every}`);
if (!Number.isInteger(last) || last < 1 || last > every)
  throw new Error(`--last: expected an integer from 1 to --every, got ${values.last}`);
if (positionals.length === 0) throw new Error("give at least one run folder (it holds log.jsonl)");

const mean = (values) =>
  values.length === 0 ? Number.NaN : values.reduce((a, b) => a + b, 0) / values.length;
const fixed = (x, digits) => (Number.isNaN(x) ? "–" : x.toFixed(digits));

for (const run of positionals) {
  const records = await readLog(`${run}/log.jsonl`);
  if (records.length === 0) throw new Error(`${run}/log.jsonl: no steps logged`);
  const naming = records.some((r) => r.naming);
  const unclaimed = records.some((r) => Number.isFinite(r.losses.unclaimed));
  const header = [
    "steps",
    "contrastive",
    "mask",
    ...(naming ? ["nouns", "no-object", "named / other", "noun cosine", "noun top-1"] : []),
    ...(unclaimed ? ["unclaimed"] : []),
  ];
  console.log(`### ${run}\n`);
  console.log(`| ${header.join(" | ")} |`);
  console.log(`| ${header.map(() => "---").join(" | ")} |`);
  const lastStep = records.at(-1).step;
  for (let end = every; end - every < lastStep; end += every) {
    const window = records.filter((r) => r.step > end - last && r.step <= end);
    if (window.length === 0) continue;
    const loss = (name) => mean(window.map((r) => r.losses[name]).filter(Number.isFinite));
    const stat = (name) => mean(window.map((r) => r.naming?.[name]).filter(Number.isFinite));
    const row = [
      `${window[0].step}–${window.at(-1).step}`,
      fixed(loss("contrastive"), 2),
      fixed(loss("mask"), 2),
      ...(naming
        ? [
            fixed(loss("nouns"), 2),
            fixed(stat("noObject"), 2),
            `${fixed(stat("named"), 3)} / ${fixed(stat("other"), 3)}`,
            fixed(stat("nounCosine"), 2),
            fixed(stat("top1"), 2),
          ]
        : []),
      ...(unclaimed ? [fixed(loss("unclaimed"), 2)] : []),
    ];
    console.log(`| ${row.join(" | ")} |`);
  }
  const validations = records.filter((r) => r.val);
  if (validations.length > 0) {
    const pct = (x) => (x === undefined ? "–" : (100 * x).toFixed(1));
    console.log(
      "\n| validation at step | images | mIoU with bg | without bg | masks oracle-labelled | image top-1 |",
    );
    console.log("| --- | --- | --- | --- | --- | --- |");
    for (const { step, val } of validations)
      console.log(
        `| ${step} | ${val.images} | ${pct(val.miouWithBackground)} | ${pct(val.miouWithoutBackground)} | ${pct(val.maskOracleWithBackground)} / ${pct(val.maskOracleWithoutBackground)} | ${pct(val.imageTop1)} |`,
      );
  }
  console.log("");
}
