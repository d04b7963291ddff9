/** The benchmark report: what was measured on which machine, as JSON and as a markdown table. */
import { readFileSync } from "node:fs";
import { cpus, totalmem } from "node:os";
import type { EngineInfo } from "../src/engine/backend.js";
import type { Agreement, Timing, TimingPlan } from "./measure.js";

export type Measurement = { status: "measured"; timing: Timing } | { status: "skipped"; reason: string };

export interface EngineMeasurement {
  measurement: Measurement;
  /** Null when PyTorch did not run. */
  agreement: Agreement | null;
}

export interface WorkloadReport {
  name: string;
  description: string;
  /** By engine variant name ("tfjs-cpu"). */
  engines: Record<string, EngineMeasurement>;
  /** By thread count ("1", "2"). */
  torch: Record<string, Measurement>;
}

export interface MachineInfo {
  cpuModel: string;
  /** The SIMD extensions that decide GEMM speed. */
  cpuSimd: string[];
  cores: number;
  memoryGiB: number;
  /** 1/5/15-minute load average when the run started: other processes on the box skew the timings. */
  loadAverage: number[];
  node: string;
  tfjs: string;
  /** Null when PyTorch was not available or not run. */
  torch: string | null;
  torchDefaultThreads: number | null;
}

export interface BenchReport {
  date: string;
  command: string;
  machine: MachineInfo;
  engines: ({ name: string } & EngineInfo)[];
  torchThreads: number[];
  timing: {
    tfjs: TimingPlan;
    tfjsFast: TimingPlan;
    heavyOnSlowEngine: TimingPlan;
    torch: TimingPlan;
    quick: boolean;
  };
  workloads: WorkloadReport[];
}

export function machineInfo(
  versions: { tfjs: string; torch: string | null; torchDefaultThreads: number | null },
  loadAverage: number[],
): MachineInfo {
  const cpuinfo = readFileSync("/proc/cpuinfo", "utf8");
  const field = (name: string) => new RegExp(`^${name}\\s*:\\s*(.*)$`, "m").exec(cpuinfo)?.[1].trim();
  const flags = new Set((field("flags") ?? "").split(/\s+/));
  return {
    cpuModel: field("model name") ?? cpus()[0]?.model ?? "unknown",
    cpuSimd: ["sse4_2", "avx", "avx2", "fma", "avx512f"].filter((flag) => flags.has(flag)),
    cores: cpus().length,
    memoryGiB: Math.round(totalmem() / 2 ** 30),
    loadAverage: loadAverage.map((load) => Number(load.toFixed(2))),
    node: process.version,
    ...versions,
  };
}

function formatMs(ms: number): string {
  return ms >= 100 ? ms.toFixed(0) : ms >= 10 ? ms.toFixed(1) : ms.toFixed(2);
}

function timeCell(m: Measurement | undefined): string {
  if (!m) return "–";
  return m.status === "measured" ? `${formatMs(m.timing.medianMs)} (${formatMs(m.timing.minMs)})` : m.reason;
}

function ratioCell(engine: Measurement, torch: Measurement | undefined): string {
  if (engine.status !== "measured" || torch?.status !== "measured") return "–";
  const ratio = engine.timing.medianMs / torch.timing.medianMs;
  return `${ratio.toFixed(ratio < 10 ? 1 : 0)}×`;
}

function agreementCell(a: Agreement | null): string {
  return a ? `${a.maxAbsDiff.toExponential(1)} (${Number(a.maxAbsTorch.toPrecision(2))})` : "–";
}

/** workload | each engine ms | PyTorch per thread count ms | each engine / torch 1 thr | each engine's diff */
export function markdownTable(report: BenchReport): string {
  const [referenceThreads] = report.torchThreads;
  const header = [
    "workload",
    ...report.engines.map((e) => `${e.name} (${e.backend}) ms`),
    ...report.torchThreads.map((t) => `PyTorch ${t} thr ms`),
    ...report.engines.map((e) => `${e.name} / torch ${referenceThreads} thr`),
    ...report.engines.map((e) => `${e.name} max abs diff (max \\|torch\\| there)`),
  ];
  const rows = report.workloads.map((w) => [
    w.name,
    ...report.engines.map((e) => timeCell(w.engines[e.name].measurement)),
    ...report.torchThreads.map((t) => timeCell(w.torch[t])),
    ...report.engines.map((e) => ratioCell(w.engines[e.name].measurement, w.torch[referenceThreads])),
    ...report.engines.map((e) => agreementCell(w.engines[e.name].agreement)),
  ]);
  return [header, header.map(() => "---"), ...rows].map((cells) => `| ${cells.join(" | ")} |`).join("\n");
}

function memoryCell(m: Measurement | undefined): string {
  if (m?.status !== "measured" || !m.timing.memory) return "–";
  const { peakRssMb, rssBeforeMb, peakReset } = m.timing.memory;
  const increase = peakRssMb - rssBeforeMb;
  return (
    `${peakRssMb.toFixed(0)} (${increase >= 0 ? "+" : "−"}${Math.abs(increase).toFixed(0)})` +
    (peakReset ? "" : " process peak")
  );
}

/** workload | each engine's peak RSS | PyTorch's per thread count: MB, and in parentheses above the RSS before. */
export function memoryTable(report: BenchReport): string {
  const header = [
    "workload",
    ...report.engines.map((e) => `${e.name} peak RSS MB`),
    ...report.torchThreads.map((t) => `PyTorch ${t} thr peak RSS MB`),
  ];
  const rows = report.workloads.map((w) => [
    w.name,
    ...report.engines.map((e) => memoryCell(w.engines[e.name].measurement)),
    ...report.torchThreads.map((t) => memoryCell(w.torch[t])),
  ]);
  return [header, header.map(() => "---"), ...rows].map((cells) => `| ${cells.join(" | ")} |`).join("\n");
}

/** One line per workload that reports figures of its own (PreparedWorkload.info), each side's values. */
export function infoLines(report: BenchReport): string[] {
  return report.workloads.flatMap((w) => {
    const sides: [string, Measurement | undefined][] = [
      ...report.engines.map((e): [string, Measurement | undefined] => [
        e.name,
        w.engines[e.name].measurement,
      ]),
      ...report.torchThreads.map((t): [string, Measurement | undefined] => [`PyTorch ${t} thr`, w.torch[t]]),
    ];
    const measured = sides.flatMap(([side, m]) =>
      m?.status === "measured" && m.timing.info ? [[side, m.timing.info] as const] : [],
    );
    if (measured.length === 0) return [];
    const keys = [...new Set(measured.flatMap(([, info]) => Object.keys(info)))];
    const figures = keys.map((key) => {
      const values = measured.map(([side, info]) => `${side} ${info[key]?.toLocaleString("en") ?? "–"}`);
      const agree = new Set(measured.map(([, info]) => info[key])).size === 1;
      return `${key}: ${values.join(", ")}${agree ? "" : " (DIFFERENT)"}`;
    });
    return [`${w.name}: ${figures.join("; ")}`];
  });
}

export function markdownReport(report: BenchReport): string {
  const m = report.machine;
  const torch = m.torch
    ? `PyTorch ${m.torch} (default ${m.torchDefaultThreads} thread(s))`
    : "PyTorch not available or not run";
  const plan = (p: TimingPlan) => `${p.warmup} warm-up + ${p.repeats} timed`;
  return [
    `# Benchmark ${report.date}`,
    "",
    `Command: \`${report.command}\``,
    "",
    `Machine: ${m.cpuModel} (${m.cpuSimd.join(" ")}), ${m.cores} cores, ${m.memoryGiB} GiB, ` +
      `load average ${m.loadAverage.join(" ")} at start; Node ${m.node}; tfjs ${m.tfjs}; ${torch}.`,
    "",
    `Timing, ms (lower is better), median (min): stock tfjs ${plan(report.timing.tfjs)}, native ${plan(report.timing.tfjsFast)}` +
      (report.timing.quick
        ? " (--quick: heavy workloads skipped on slow engines)"
        : ` (heavy workloads on slow engines: ${plan(report.timing.heavyOnSlowEngine)})`) +
      `; PyTorch ${plan(report.timing.torch)}.`,
    "Max abs diff: tfjs vs PyTorch (1 thread) over all outputs of the workload's last run, from the same inputs " +
      "(a training step: over the losses and gradients of its untimed check step).",
    "",
    markdownTable(report),
    "",
    "Peak RSS, MB: the process's highest resident memory during the timed runs (VmHWM, reset after the " +
      "warm-ups); in parentheses, how far above its RSS before the workload was prepared.",
    "",
    memoryTable(report),
    "",
    ...infoLines(report).map((line) => `* ${line}`),
    "",
  ].join("\n");
}
