/**
 * `npm run bench`: time the workloads of bench/workloads.ts on each tfjs engine variant and on PyTorch
 * (1 and 2 threads), check that both compute the same values, and write bench/results/.
 * Usage: node dist/bench/run.js [--only a,b] [--engines tfjs-cpu,tfjs-native] [--repeats N] [--quick] [--no-torch]
 *        [--out DIR]
 */
import { mkdtemp, rm } from "node:fs/promises";
import { loadavg, tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { type EngineInfo, initEngine } from "../src/engine/backend.js";
import { setNativeKernelsEnabled } from "../src/engine/kernels/registry.js";
import { writeFileAtomic } from "../src/io/atomic.js";
import { writeSafetensors } from "../src/io/safetensors-file.js";
import { CONFIGS } from "../src/model/presets.js";
import { compareOutputs, residentMemory, type TimingPlan, timeWorkload } from "./measure.js";
import {
  type BenchReport,
  type EngineMeasurement,
  infoLines,
  type Measurement,
  machineInfo,
  markdownReport,
  markdownTable,
  memoryTable,
  type WorkloadReport,
} from "./report.js";
import { SEGMENT_BENCH } from "./segment.js";
import { SSEG_STEPS } from "./sseg-step.js";
import { readTorchOutputs, runTorch, torchVersion } from "./torch.js";
import { type BenchInputs, makeInputs, WORKLOADS, type Workload } from "./workloads.js";

/** A tfjs configuration to time: one table column each. The native kernel pack adds an entry here. */
interface EngineVariant {
  name: string;
  /** Selects the backend and kernels, or returns null when this machine cannot run the variant. */
  setup: () => Promise<EngineInfo | null>;
  /** Stock kernels need minutes per run of a heavy workload: time those once, and skip them with --quick. */
  slow: boolean;
}

const ENGINE_VARIANTS: EngineVariant[] = [
  { name: "tfjs-cpu", setup: () => withNativeKernels(false), slow: true },
  { name: "tfjs-native", setup: () => withNativeKernels(true), slow: false },
];

/** The cpu backend with tfjs's own kernels, or with the native kernel pack (null when the pack did not load). */
async function withNativeKernels(on: boolean): Promise<EngineInfo | null> {
  const info = await initEngine({ backend: "cpu" });
  if (on && !("path" in info.native)) return null;
  setNativeKernelsEnabled(on);
  return on ? info : { ...info, native: { reason: "stock tfjs kernels (native pack switched off)" } };
}

const TORCH_THREADS = [1, 2];
const SEED = 0;
const DEFAULT_OUT = fileURLToPath(new URL("../../bench/results/", import.meta.url));
const TORCH_MISSING = "PyTorch not available (install python3-torch)";
const NO_TORCH_SIDE = "no PyTorch counterpart";

interface Plans {
  /** Engines whose runs take seconds (stock tfjs). */
  tfjs: TimingPlan;
  /** Engines as fast as PyTorch: as many repeats as PyTorch gets. */
  tfjsFast: TimingPlan;
  heavyOnSlowEngine: TimingPlan;
  torch: TimingPlan;
}

/** Few repeats for tfjs because the stock kernels take seconds per run; torch is cheap to repeat. */
const PLANS = {
  full: {
    tfjs: { warmup: 1, repeats: 3 },
    tfjsFast: { warmup: 2, repeats: 10 },
    torch: { warmup: 2, repeats: 10 },
  },
  quick: {
    tfjs: { warmup: 1, repeats: 2 },
    tfjsFast: { warmup: 1, repeats: 5 },
    torch: { warmup: 1, repeats: 5 },
  },
};
/** A heavy workload on a slow engine takes 1–4 minutes per run: one run keeps the default bench short. */
const HEAVY_ON_SLOW_ENGINE: TimingPlan = { warmup: 0, repeats: 1 };

interface Options {
  workloads: Workload[];
  engines: EngineVariant[];
  plans: Plans;
  quick: boolean;
  torch: boolean;
  outDir: string;
}

function parseOptions(argv: string[]): Options {
  const { values } = parseArgs({
    args: argv,
    options: {
      only: { type: "string" },
      engines: { type: "string" },
      repeats: { type: "string" },
      quick: { type: "boolean", default: false },
      "no-torch": { type: "boolean", default: false },
      out: { type: "string" },
    },
  });
  const known = WORKLOADS.map((w) => w.name);
  const only = values.only?.split(",").map((name) => name.trim()) ?? known;
  const unknown = only.filter((name) => !known.includes(name));
  if (unknown.length > 0)
    throw new Error(`unknown workload(s) ${unknown.join(", ")}; known: ${known.join(", ")}`);
  const knownEngines = ENGINE_VARIANTS.map((v) => v.name);
  const engines = values.engines?.split(",").map((name) => name.trim()) ?? knownEngines;
  const unknownEngines = engines.filter((name) => !knownEngines.includes(name));
  if (unknownEngines.length > 0)
    throw new Error(`unknown engine(s) ${unknownEngines.join(", ")}; known: ${knownEngines.join(", ")}`);
  const quick = values.quick;
  const plans: Plans = {
    ...structuredClone(quick ? PLANS.quick : PLANS.full),
    heavyOnSlowEngine: { ...HEAVY_ON_SLOW_ENGINE },
  };
  if (values.repeats !== undefined) {
    const repeats = Number(values.repeats);
    if (!Number.isInteger(repeats) || repeats < 1)
      throw new Error(`--repeats must be a positive integer, got "${values.repeats}"`);
    for (const plan of Object.values(plans)) plan.repeats = repeats;
  }
  return {
    workloads: WORKLOADS.filter((w) => only.includes(w.name)),
    engines: ENGINE_VARIANTS.filter((v) => engines.includes(v.name)),
    plans,
    quick,
    torch: !values["no-torch"],
    outDir: values.out === undefined ? DEFAULT_OUT : resolve(values.out),
  };
}

interface TorchResults {
  version: string | null;
  defaultThreads: number | null;
  /** By thread count, then workload. */
  measurements: Record<string, Record<string, Measurement>>;
  /** The 1-thread run's outputs, keyed "<workload>/<output>"; null when PyTorch did not run. */
  outputs: Map<string, Float32Array> | null;
}

async function measureTorch(
  options: Options,
  inputs: BenchInputs,
  scratchDir: string,
): Promise<TorchResults> {
  const skippedAll = (reason: string): TorchResults => ({
    version: null,
    defaultThreads: null,
    measurements: Object.fromEntries(
      TORCH_THREADS.map((t) => [
        t,
        Object.fromEntries(options.workloads.map((w) => [w.name, { status: "skipped", reason }])),
      ]),
    ),
    outputs: null,
  });
  if (!options.torch) return skippedAll("not run (--no-torch)");
  const withTorch = options.workloads.filter((w) => w.torch !== false);
  if (withTorch.length === 0) return skippedAll(NO_TORCH_SIDE);
  const version = await torchVersion();
  if (version === null) {
    console.log(`${TORCH_MISSING}; timing tfjs only`);
    return skippedAll(TORCH_MISSING);
  }
  const inputsPath = join(scratchDir, "inputs.safetensors");
  const outputsPath = join(scratchDir, "torch-outputs.safetensors");
  // Settings a workload's PyTorch side needs besides tensors travel as metadata, JSON under the workload's name.
  await writeSafetensors(inputsPath, Object.fromEntries(inputs), {
    sseg_step: JSON.stringify(SSEG_STEPS),
    sseg_segment: JSON.stringify({ ...SEGMENT_BENCH, configs: CONFIGS }),
  });
  const results: TorchResults = { version, defaultThreads: null, measurements: {}, outputs: null };
  for (const threads of TORCH_THREADS) {
    const run = await runTorch({
      threads,
      workloads: withTorch.map((w) => w.name),
      plan: options.plans.torch,
      inputsPath,
      outputsPath: threads === TORCH_THREADS[0] ? outputsPath : undefined,
    });
    results.defaultThreads = run.defaultThreads;
    results.measurements[threads] = Object.fromEntries([
      ...options.workloads.map((w) => [w.name, { status: "skipped", reason: NO_TORCH_SIDE }]),
      ...Object.entries(run.results).map(([name, timing]) => [name, { status: "measured", timing }]),
    ]);
  }
  results.outputs = await readTorchOutputs(outputsPath);
  return results;
}

function measureEngine(
  variant: EngineVariant,
  workload: Workload,
  options: Options,
  inputs: BenchInputs,
  torchOutputs: Map<string, Float32Array> | null,
): EngineMeasurement {
  if (workload.nativeOnly && variant.slow)
    return {
      measurement: { status: "skipped", reason: "not run (tens of minutes on stock kernels)" },
      agreement: null,
    };
  const heavyOnSlowEngine = workload.heavy && variant.slow;
  if (heavyOnSlowEngine && options.quick)
    return { measurement: { status: "skipped", reason: "skipped (--quick)" }, agreement: null };
  const plan = heavyOnSlowEngine
    ? options.plans.heavyOnSlowEngine
    : variant.slow
      ? options.plans.tfjs
      : options.plans.tfjsFast;
  const rssBeforeMb = residentMemory()?.rssMb;
  const prepared = workload.prepare(inputs);
  try {
    const { timing, outputs } = timeWorkload(workload.name, prepared, plan, rssBeforeMb);
    const agreement = torchOutputs
      ? compareOutputs(workload.name, prepared.check ?? outputs, torchOutputs)
      : null;
    const diff = agreement
      ? `, max abs diff vs torch ${agreement.maxAbsDiff.toExponential(1)} (${agreement.worstOutput})`
      : "";
    const memory = timing.memory
      ? `, peak RSS ${timing.memory.peakRssMb.toFixed(0)} MB (before ${timing.memory.rssBeforeMb.toFixed(0)} MB)`
      : "";
    console.log(
      `[${variant.name}] ${workload.name}: median ${timing.medianMs.toFixed(1)} ms, ` +
        `min ${timing.minMs.toFixed(1)} ms${memory}${diff}`,
    );
    return { measurement: { status: "measured", timing }, agreement };
  } finally {
    prepared.dispose();
  }
}

async function main(): Promise<void> {
  const options = parseOptions(process.argv.slice(2));
  const date = new Date().toISOString().replace(/\.\d+Z$/, "Z");
  const loadAverage = loadavg();
  // Inputs come from the stock kernels, so every variant sees the same values.
  const stock = (await withNativeKernels(false))!;
  const inputs = await makeInputs(
    SEED,
    options.workloads.map((w) => w.name),
  );
  const scratchDir = await mkdtemp(join(tmpdir(), "sseg-bench-"));
  let torch: TorchResults;
  try {
    torch = await measureTorch(options, inputs, scratchDir);
  } finally {
    await rm(scratchDir, { recursive: true, force: true });
  }

  const engines: BenchReport["engines"] = [];
  const workloads: WorkloadReport[] = options.workloads.map((w) => ({
    name: w.name,
    description: w.description,
    engines: {},
    torch: Object.fromEntries(TORCH_THREADS.map((t) => [t, torch.measurements[t][w.name]])),
  }));
  for (const variant of options.engines) {
    const info = await variant.setup();
    if (!info) {
      console.log(`${variant.name}: skipped (the native kernel pack did not load; see the warning above)`);
      continue;
    }
    engines.push({ name: variant.name, ...info });
    options.workloads.forEach((workload, i) => {
      workloads[i].engines[variant.name] = measureEngine(variant, workload, options, inputs, torch.outputs);
    });
  }

  const report: BenchReport = {
    date,
    command: ["node dist/bench/run.js", ...process.argv.slice(2)].join(" "),
    machine: machineInfo(
      { tfjs: stock.tfjsVersion, torch: torch.version, torchDefaultThreads: torch.defaultThreads },
      loadAverage,
    ),
    engines,
    torchThreads: TORCH_THREADS,
    timing: { ...options.plans, quick: options.quick },
    workloads,
  };
  const jsonPath = join(options.outDir, `bench-${date.replace(/:/g, "-")}.json`);
  const markdownPath = join(options.outDir, "latest.md");
  await writeFileAtomic(jsonPath, `${JSON.stringify(report, null, 2)}\n`);
  await writeFileAtomic(markdownPath, markdownReport(report));
  const info = infoLines(report).join("\n");
  console.log(
    `\n${markdownTable(report)}\n\n${memoryTable(report)}\n${info ? `\n${info}\n` : ""}\n` +
      `Wrote ${jsonPath} and ${markdownPath}`,
  );
}

main().catch((err: unknown) => {
  console.error(err instanceof Error ? err.message : err);
  process.exitCode = 1;
});
