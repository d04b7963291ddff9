import { readFileSync, writeFileSync } from "node:fs";
import * as tf from "@tensorflow/tfjs";
import type { Outputs, PreparedWorkload } from "./workloads.js";

export interface TimingPlan {
  warmup: number;
  repeats: number;
}

/** Resident memory of the process around one workload, MiB, from /proc/self/status (as torch_bench.py). */
export interface MemoryUse {
  /** RSS before the workload was prepared (the inputs of every workload are loaded by then). */
  rssBeforeMb: number;
  /** Highest RSS during the timed runs: VmHWM, reset to the current RSS after the warm-ups. */
  peakRssMb: number;
  /** False when the kernel refused the reset: peakRssMb is then the process's peak so far. */
  peakReset: boolean;
}

/** Wall-clock times of the repeats (warm-ups excluded), the same shape torch_bench.py reports. */
export interface Timing extends TimingPlan {
  timesMs: number[];
  medianMs: number;
  minMs: number;
  /** Absent where /proc/self/status is not readable (not Linux). */
  memory?: MemoryUse;
  /** The workload's own figures (PreparedWorkload.info). */
  info?: Record<string, number>;
}

export interface OutputAgreement {
  maxAbsDiff: number;
  /** The largest |value| PyTorch produced, to read the difference against. */
  maxAbsTorch: number;
}

/** How far tfjs is from PyTorch (1 thread) on one workload: the output with the largest difference. */
export interface Agreement extends OutputAgreement {
  /** "y", "loss", "grad.attn.qkv.weight", … */
  worstOutput: string;
  byOutput: Record<string, OutputAgreement>;
}

/** Current (VmRSS) and peak (VmHWM) resident set size of this process in MiB; null when not on Linux. */
export function residentMemory(): { rssMb: number; peakMb: number } | null {
  let status: string;
  try {
    status = readFileSync("/proc/self/status", "utf8");
  } catch {
    return null;
  }
  const kib = (field: string) =>
    Number(new RegExp(`^${field}:\\s+(\\d+) kB$`, "m").exec(status)?.[1] ?? Number.NaN);
  return { rssMb: kib("VmRSS") / 1024, peakMb: kib("VmHWM") / 1024 };
}

/**
 * Reset the peak RSS (VmHWM) to the current RSS by writing 5 to /proc/self/clear_refs (Linux ≥ 4.0), so the next
 * peak read covers only what runs after this. False when the kernel does not allow it.
 */
export function resetPeakMemory(): boolean {
  try {
    writeFileSync("/proc/self/clear_refs", "5");
    return true;
  } catch {
    return false;
  }
}

/** Median as in Python's statistics.median (mean of the middle two for an even count). */
export function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
}

/**
 * Run `warmup` untimed and `repeats` timed runs, each in its own tf.tidy; a run that leaves tensors behind
 * is an error because a leak would slow later runs. Returns the outputs of the last run for the check.
 */
export function timeWorkload(
  name: string,
  workload: PreparedWorkload,
  plan: TimingPlan,
  /** The process's RSS before `workload` was prepared, for the memory figures. */
  rssBeforeMb?: number,
): { timing: Timing; outputs: Outputs } {
  const timesMs: number[] = [];
  let outputs: Outputs = {};
  let peakReset = false;
  for (let i = 0; i < plan.warmup + plan.repeats; i++) {
    if (i === plan.warmup) peakReset = resetPeakMemory();
    const tensorsBefore = tf.memory().numTensors;
    const start = performance.now();
    // Returning the arrays from tidy would make it walk every element looking for tensors.
    tf.tidy(() => {
      outputs = workload.run();
    });
    const elapsedMs = performance.now() - start;
    if (i >= plan.warmup) timesMs.push(elapsedMs);
    const leaked = tf.memory().numTensors - tensorsBefore;
    if (leaked !== 0) throw new Error(`workload ${name} leaks ${leaked} tensors per run`);
  }
  const resident = residentMemory();
  const memory =
    resident && rssBeforeMb !== undefined
      ? { rssBeforeMb, peakRssMb: resident.peakMb, peakReset }
      : undefined;
  const timing: Timing = { ...plan, timesMs, medianMs: median(timesMs), minMs: Math.min(...timesMs), memory };
  if (workload.info) timing.info = workload.info;
  return { timing, outputs };
}

/** Compare every output of `workload` with PyTorch's, stored under "<workload>/<output>". */
export function compareOutputs(
  workload: string,
  outputs: Outputs,
  torchOutputs: Map<string, Float32Array>,
): Agreement {
  const prefix = `${workload}/`;
  const torchNames = [...torchOutputs.keys()]
    .filter((key) => key.startsWith(prefix))
    .map((key) => key.slice(prefix.length));
  const ownNames = Object.keys(outputs);
  const oneSided = [
    ...torchNames.filter((name) => !ownNames.includes(name)),
    ...ownNames.filter((name) => !torchNames.includes(name)),
  ];
  if (oneSided.length > 0) throw new Error(`${workload}: outputs on only one side: ${oneSided.join(", ")}`);
  const byOutput: Record<string, OutputAgreement> = {};
  for (const [name, values] of Object.entries(outputs)) {
    const reference = torchOutputs.get(prefix + name)!;
    if (reference.length !== values.length)
      throw new Error(`${workload}/${name}: tfjs has ${values.length} values, PyTorch ${reference.length}`);
    byOutput[name] = compareValues(values, reference);
  }
  const worstOutput = Object.keys(byOutput).reduce((worst, name) =>
    byOutput[name].maxAbsDiff > byOutput[worst].maxAbsDiff || Number.isNaN(byOutput[name].maxAbsDiff)
      ? name
      : worst,
  );
  return { ...byOutput[worstOutput], worstOutput, byOutput };
}

function compareValues(values: Float32Array, reference: Float32Array): OutputAgreement {
  let maxAbsDiff = 0;
  let maxAbsTorch = 0;
  for (let i = 0; i < values.length; i++) {
    const diff = Math.abs(values[i] - reference[i]);
    if (diff > maxAbsDiff || Number.isNaN(diff)) maxAbsDiff = diff; // a NaN sticks: nothing compares above it
    maxAbsTorch = Math.max(maxAbsTorch, Math.abs(reference[i]));
  }
  return { maxAbsDiff, maxAbsTorch };
}
