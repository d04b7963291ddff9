/**
 * `npm run bench:profile`: per-kernel time of one workload run (default: the ViT-S/8 block training step at
 * batch 4) on the native and the stock kernels, from tfjs's own profiler, as a markdown table of the top kernels.
 * Usage: node dist/bench/profile.js [--workload NAME] [--top N] [--stock] [--out FILE]
 */
import { parseArgs } from "node:util";
import * as tf from "@tensorflow/tfjs";
import { initEngine } from "../src/engine/backend.js";
import { setNativeKernelsEnabled } from "../src/engine/kernels/registry.js";
import { writeFileAtomic } from "../src/io/atomic.js";
import { makeInputs, WORKLOADS } from "./workloads.js";

interface KernelShare {
  kernel: string;
  ms: number;
  calls: number;
}

async function profileOnce(
  name: string,
  native: boolean,
): Promise<{ wallMs: number; kernels: KernelShare[] }> {
  const workload = WORKLOADS.find((w) => w.name === name);
  if (!workload)
    throw new Error(`unknown workload ${name}; known: ${WORKLOADS.map((w) => w.name).join(", ")}`);
  setNativeKernelsEnabled(native);
  const prepared = workload.prepare(await makeInputs(0, [workload.name]));
  const run = () =>
    tf.tidy(() => {
      prepared.run();
    });
  run(); // warm-up
  const start = performance.now();
  run();
  const wallMs = performance.now() - start;
  const info = await tf.profile(run);
  prepared.dispose();
  const byKernel = new Map<string, KernelShare>();
  // Op-level wrappers (names ending in "__op") contain their kernel's time: count kernels only.
  for (const k of info.kernels.filter((k) => !k.name.endsWith("__op"))) {
    const entry = byKernel.get(k.name) ?? { kernel: k.name, ms: 0, calls: 0 };
    entry.ms += k.kernelTimeMs as number;
    entry.calls++;
    byKernel.set(k.name, entry);
  }
  return { wallMs, kernels: [...byKernel.values()].sort((a, b) => b.ms - a.ms) };
}

function table(title: string, wallMs: number, kernels: KernelShare[], top: number): string {
  const total = kernels.reduce((s, k) => s + k.ms, 0);
  const rows = kernels
    .slice(0, top)
    .map((k) => `| ${k.kernel} | ${k.ms.toFixed(1)} | ${((100 * k.ms) / total).toFixed(1)} % | ${k.calls} |`);
  return [
    `### ${title}`,
    "",
    `One run: ${wallMs.toFixed(0)} ms wall; kernel time under the profiler ${total.toFixed(0)} ms.`,
    "",
    "| kernel | ms | share | calls |",
    "| --- | --- | --- | --- |",
    ...rows,
    "",
  ].join("\n");
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      workload: { type: "string", default: "vit_fwdbwd_b4" },
      top: { type: "string", default: "12" },
      stock: { type: "boolean", default: false },
      out: { type: "string" },
    },
  });
  const top = Number(values.top);
  if (!Number.isInteger(top) || top < 1)
    throw new Error(`--top must be a positive integer, got "${values.top}"`);
  const info = await initEngine();
  const sections = [`## Kernel profile: ${values.workload}`, ""];
  if ("path" in info.native) {
    const native = await profileOnce(values.workload, true);
    sections.push(
      table(`native kernel pack (${info.native.threads} threads)`, native.wallMs, native.kernels, top),
    );
  } else {
    sections.push(`Native kernel pack not loaded (${info.native.reason}).`, "");
  }
  if (values.stock) {
    const stock = await profileOnce(values.workload, false);
    sections.push(table("stock tfjs cpu kernels", stock.wallMs, stock.kernels, top));
  }
  sections.push(
    `Command: \`node dist/bench/profile.js ${process.argv.slice(2).join(" ")}\``.replace(/ `$/, "`"),
    "",
  );
  const markdown = sections.join("\n");
  console.log(markdown);
  if (values.out) await writeFileAtomic(values.out, `${markdown}\n`);
}

await main();
