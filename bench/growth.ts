/**
 * Does a long run grow? Trains the `micro` model for N steps through `train()` (data, pseudo-masks, the step,
 * logging, checkpoints: the whole loop) and samples the live tensor count and the process's RSS every 50 steps;
 * reports the growth over the run and the RSS slope over its second half (after allocator warm-up), as JSON and
 * markdown. A leak-free loop keeps the tensor count constant and the RSS flat.
 *
 *   node dist/bench/growth.js [--steps 1000] [--out bench/results]
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import * as tf from "@tensorflow/tfjs";
import { initEngine } from "../src/engine/backend.js";
import { writeFileAtomic } from "../src/io/atomic.js";
import { micro } from "../src/model/presets.js";
import { DEFAULT_TRAIN_OPTIONS, train } from "../src/train/trainer.js";

const SAMPLE = `${new URL("../../data/composites-sample/train/", import.meta.url).pathname}{00000..00002}.tar`;
const EVERY = 50;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      steps: { type: "string", default: "1000" },
      out: { type: "string", default: "bench/results" },
    },
  });
  const steps = Number(values.steps);
  const engine = await initEngine();
  const out = await mkdtemp(join(tmpdir(), "sseg-growth-"));
  const samples: { step: number; tensors: number; rssMb: number }[] = [];
  const started = performance.now();
  try {
    await train({
      ...DEFAULT_TRAIN_OPTIONS,
      config: micro,
      data: SAMPLE,
      out,
      steps,
      batchSize: 4,
      warmupSteps: 10,
      checkpointEvery: 250,
      features: "rgb",
      onStep: (step) => {
        if (step % EVERY === 0 || step === 1)
          samples.push({ step, tensors: tf.memory().numTensors, rssMb: process.memoryUsage().rss / 2 ** 20 });
      },
    });
  } finally {
    await rm(out, { recursive: true, force: true });
  }
  const half = samples.filter((s) => s.step >= steps / 2);
  const slope = // least squares, MB per 1,000 steps
    (() => {
      const n = half.length;
      const mx = half.reduce((a, s) => a + s.step, 0) / n;
      const my = half.reduce((a, s) => a + s.rssMb, 0) / n;
      const sxy = half.reduce((a, s) => a + (s.step - mx) * (s.rssMb - my), 0);
      const sxx = half.reduce((a, s) => a + (s.step - mx) ** 2, 0);
      return sxx > 0 ? (1000 * sxy) / sxx : 0;
    })();
  const first = samples[0];
  const last = samples[samples.length - 1];
  const report = {
    date: new Date().toISOString(),
    command: `node dist/bench/growth.js --steps ${steps}`,
    backend: engine.backend,
    steps,
    minutes: (performance.now() - started) / 60000,
    tensorGrowth: last.tensors - first.tensors,
    rssFirstMb: first.rssMb,
    rssLastMb: last.rssMb,
    rssSlopeSecondHalfMbPer1000Steps: slope,
    samples,
  };
  const markdown = [
    `## Growth over ${steps} micro training steps (${report.date})`,
    "",
    `\`${report.command}\` — ${report.minutes.toFixed(1)} min on ${engine.backend}.`,
    "",
    "| step | live tensors | RSS MB |",
    "| --- | --- | --- |",
    ...samples.map((s) => `| ${s.step} | ${s.tensors} | ${s.rssMb.toFixed(0)} |`),
    "",
    `Tensor growth ${report.tensorGrowth}; RSS ${first.rssMb.toFixed(0)} → ${last.rssMb.toFixed(0)} MB, slope over the second half ${slope.toFixed(1)} MB per 1,000 steps.`,
  ].join("\n");
  const stamp = report.date.replace(/:/g, "-").replace(/\.\d+Z$/, "Z");
  await writeFileAtomic(join(values.out, `growth-${stamp}.json`), `${JSON.stringify(report, null, 2)}\n`);
  await writeFileAtomic(join(values.out, "growth.md"), `${markdown}\n`);
  console.log(markdown);
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
