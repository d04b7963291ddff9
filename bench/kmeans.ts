/**
 * Pseudo-mask K-Means side by side with scikit-learn: `kmeansBatch` on 32 images × 784 tokens × 384 features,
 * K = 8, k-means++ init, at most 20 Lloyd iterations; sklearn's KMeans (n_init=1, same settings) per image on the
 * same tokens, through bench/kmeans_sklearn.py, with its default OpenMP threads and with one thread.
 *
 *     npx tsc -p . && node dist/bench/kmeans.js [--warmup 1] [--repeats 5]
 *
 * Two datasets of unit-length tokens: "dino-like" (8 directions of uneven popularity sharing a common component,
 * plus noise, like DINO patch tokens) and "structureless" (uniform on the sphere: no clusters to find, so more
 * iterations and fewer points that Hamerly's bounds can skip).
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Rng } from "../src/engine/rng.js";
import { writeSafetensors } from "../src/io/safetensors-file.js";
import { type KMeansResult, kmeansBatch } from "../src/pseudo/kmeans.js";
import { median } from "./measure.js";
import { runPythonJson } from "./python.js";

/** The script stays in bench/ (tsc does not copy it); this file runs from dist/bench/. */
const SCRIPT = fileURLToPath(new URL("../../bench/kmeans_sklearn.py", import.meta.url));
const [IMAGES, TOKENS, DIM] = [32, 784, 384];
const SETTINGS = { k: 8, maxIter: 20, tol: 1e-4 };

interface Row {
  timesMs: number[];
  /** Process CPU time (all threads): steadier than wall time on a busy machine. */
  cpuMs: number[];
  meanInertia: number;
  meanIterations: number;
}

interface SklearnRun {
  threads: number;
  datasets: Record<
    string,
    { times_ms: number[]; cpu_ms: number[]; mean_inertia: number; mean_iterations: number }
  >;
}

/** Unit-length tokens around `clusters` directions per image; `noise` is the noise norm per token. */
function dinoLikeTokens(rng: Rng, noise: number, clusters: number): Float32Array {
  const out = new Float32Array(IMAGES * TOKENS * DIM);
  for (let b = 0; b < IMAGES; b++) {
    const common = unitVector(Array.from({ length: DIM }, () => rng.normal()));
    const directions = Array.from({ length: clusters }, () =>
      unitVector(common.map((c) => 0.6 * c + rng.normal() / Math.sqrt(DIM))),
    );
    const popularity = Array.from({ length: clusters }, () => Math.exp(rng.normal()));
    const total = popularity.reduce((a, p) => a + p, 0);
    for (let t = 0; t < TOKENS; t++) {
      let pick = rng.uniform() * total;
      let cluster = 0;
      while (cluster < clusters - 1 && pick >= popularity[cluster]) pick -= popularity[cluster++];
      const token = directions[cluster].map((v) => v + (noise * rng.normal()) / Math.sqrt(DIM));
      out.set(unitVector(token), (b * TOKENS + t) * DIM);
    }
  }
  return out;
}

function structurelessTokens(rng: Rng): Float32Array {
  const out = new Float32Array(IMAGES * TOKENS * DIM);
  for (let row = 0; row < IMAGES * TOKENS; row++)
    out.set(unitVector(Array.from({ length: DIM }, () => rng.normal())), row * DIM);
  return out;
}

function unitVector(values: number[]): number[] {
  const norm = Math.hypot(...values);
  return values.map((v) => v / norm);
}

function timeTypeScript(tokens: Float32Array, warmup: number, repeats: number): Row {
  const timesMs: number[] = [];
  const cpuMs: number[] = [];
  let results: KMeansResult[] = [];
  for (let run = 0; run < warmup + repeats; run++) {
    const [start, startCpu] = [performance.now(), process.cpuUsage()];
    results = kmeansBatch(tokens, IMAGES, TOKENS, DIM, { ...SETTINGS, seed: 0 });
    const cpu = process.cpuUsage(startCpu);
    if (run >= warmup) {
      timesMs.push(performance.now() - start);
      cpuMs.push((cpu.user + cpu.system) / 1000);
    }
  }
  return {
    timesMs,
    cpuMs,
    meanInertia: results.reduce((sum, r) => sum + r.inertia, 0) / IMAGES,
    meanIterations: results.reduce((sum, r) => sum + r.iterations, 0) / IMAGES,
  };
}

function runSklearn(
  inputs: string,
  threads: number | null,
  warmup: number,
  repeats: number,
): Promise<SklearnRun> {
  const args = [
    SCRIPT,
    "--inputs",
    inputs,
    "--k",
    String(SETTINGS.k),
    "--max-iter",
    String(SETTINGS.maxIter),
  ];
  args.push("--tol", String(SETTINGS.tol), "--warmup", String(warmup), "--repeats", String(repeats));
  const env = threads === null ? process.env : { ...process.env, OMP_NUM_THREADS: String(threads) };
  return runPythonJson<SklearnRun>(args, env);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { warmup: { type: "string", default: "1" }, repeats: { type: "string", default: "5" } },
  });
  const [warmup, repeats] = [Number(values.warmup), Number(values.repeats)];
  const rng = new Rng(2024);
  const datasets: Record<string, Float32Array> = {
    "dino-like": dinoLikeTokens(rng, 1.5, SETTINGS.k),
    structureless: structurelessTokens(rng),
  };
  const directory = await mkdtemp(join(tmpdir(), "sseg-kmeans-"));
  const inputs = join(directory, "tokens.safetensors");
  try {
    await writeSafetensors(
      inputs,
      Object.fromEntries(
        Object.entries(datasets).map(([name, data]) => [name, { shape: [IMAGES, TOKENS, DIM], data }]),
      ),
    );
    const sklearnRuns = [
      await runSklearn(inputs, null, warmup, repeats),
      await runSklearn(inputs, 1, warmup, repeats),
    ];
    const lines = [
      `K-Means, ${IMAGES} images × ${TOKENS} tokens × ${DIM} features, K = ${SETTINGS.k}, k-means++, ≤ ${SETTINGS.maxIter} iterations, tol ${SETTINGS.tol}; median of ${repeats} runs (${warmup} warm-up); "vs sklearn" is against sklearn with its default threads`,
      "",
      "| data | implementation | batch wall (ms) | per image (ms) | wall vs sklearn | batch CPU (ms) | mean inertia | mean iterations |",
      "|---|---|---:|---:|---:|---:|---:|---:|",
    ];
    for (const [name, tokens] of Object.entries(datasets)) {
      const sklearnRows = sklearnRuns.map((run): [string, Row] => [
        `sklearn ${run.threads === 1 ? "1 thread" : `${run.threads} threads`}`,
        {
          timesMs: run.datasets[name].times_ms,
          cpuMs: run.datasets[name].cpu_ms,
          meanInertia: run.datasets[name].mean_inertia,
          meanIterations: run.datasets[name].mean_iterations,
        },
      ]);
      const rows: [string, Row][] = [
        ["sseg kmeansBatch", timeTypeScript(tokens, warmup, repeats)],
        ...sklearnRows,
      ];
      const reference = median(sklearnRows[0][1].timesMs);
      for (const [implementation, row] of rows) {
        const batchMs = median(row.timesMs);
        lines.push(
          `| ${name} | ${implementation} | ${batchMs.toFixed(1)} | ${(batchMs / IMAGES).toFixed(2)} | ${(batchMs / reference).toFixed(2)}× | ${median(row.cpuMs).toFixed(1)} | ${row.meanInertia.toFixed(3)} | ${row.meanIterations.toFixed(1)} |`,
        );
      }
    }
    console.log(lines.join("\n"));
  } finally {
    await rm(directory, { recursive: true, force: true });
  }
}

await main();
