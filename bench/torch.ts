/** Runs bench/torch_bench.py as a subprocess of Debian's Python (python3-torch) and reads its results. */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import { toFloat32 } from "../src/io/safetensors.js";
import { readSafetensors } from "../src/io/safetensors-file.js";
import type { Timing, TimingPlan } from "./measure.js";
import { PYTHON, runPythonJson } from "./python.js";

/** The script stays in bench/ (tsc does not copy it); this file runs from dist/bench/. */
const SCRIPT = fileURLToPath(new URL("../../bench/torch_bench.py", import.meta.url));

export interface TorchRun {
  torchVersion: string;
  threads: number;
  /** torch.get_num_threads() before the script changed it. */
  defaultThreads: number;
  results: Record<string, Timing>;
}

/** PyTorch's version, or null when /usr/bin/python3 is missing or cannot import torch. */
export async function torchVersion(): Promise<string | null> {
  if (!existsSync(PYTHON)) return null;
  try {
    const { stdout } = await promisify(execFile)(PYTHON, ["-c", "import torch; print(torch.__version__)"]);
    return stdout.trim();
  } catch {
    return null;
  }
}

/** Time `workloads` at `threads` threads; progress lines pass through to our stderr. */
export function runTorch(options: {
  threads: number;
  workloads: string[];
  plan: TimingPlan;
  inputsPath: string;
  /** Where to write the outputs of each workload's last run, for the agreement check. */
  outputsPath?: string;
}): Promise<TorchRun> {
  const args = [
    SCRIPT,
    "--inputs",
    options.inputsPath,
    "--threads",
    String(options.threads),
    "--warmup",
    String(options.plan.warmup),
    "--repeats",
    String(options.plan.repeats),
    "--only",
    options.workloads.join(","),
    ...(options.outputsPath ? ["--outputs", options.outputsPath] : []),
  ];
  return runPythonJson<TorchRun>(args);
}

/** The outputs torch_bench.py wrote, keyed "<workload>/<output>". */
export async function readTorchOutputs(path: string): Promise<Map<string, Float32Array>> {
  const file = await readSafetensors(path);
  return new Map([...file.tensors].map(([key, tensor]) => [key, toFloat32(tensor)]));
}
