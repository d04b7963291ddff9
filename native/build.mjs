#!/usr/bin/env node
// Builds the native kernel pack with plain g++ (no node-gyp: it would download headers).
// Build deps (Debian): apt-get install g++ libeigen3-dev. Headers: the node-api-headers npm package.
//   node native/build.mjs              → native/build/<variant>.node (used first by the loader)
//   node native/build.mjs --prebuilt   → native/prebuilt/linux-x64/<variant>.node (commit when kernels change)
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, readdirSync, renameSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";

const run = promisify(execFile);
const here = dirname(fileURLToPath(import.meta.url));
const eigen = "/usr/include/eigen3";
const headers = join(here, "..", "node_modules", "node-api-headers", "include");
/** Two builds: AVX-512 (x86-64-v4) and AVX2+FMA (x86-64-v3); the loader picks by CPU flags. */
const variants = ["x86-64-v4", "x86-64-v3"];

const prebuilt = process.argv.includes("--prebuilt");
const outDir = prebuilt ? join(here, "prebuilt", "linux-x64") : join(here, "build");

for (const [what, path, fix] of [
  ["Eigen headers", join(eigen, "Eigen", "Core"), "apt-get install libeigen3-dev"],
  ["Node-API headers", join(headers, "node_api.h"), "npm install (node-api-headers is a devDependency)"],
]) {
  if (!existsSync(path)) {
    console.error(`build:native: ${what} not found at ${path}. Install them: ${fix}`);
    process.exit(1);
  }
}

const sources = readdirSync(join(here, "src"))
  .filter((f) => f.endsWith(".cc"))
  .map((f) => join(here, "src", f));
const common = [
  "-O3",
  "-std=c++17",
  "-fPIC",
  "-fvisibility=hidden",
  "-fno-math-errno",
  // a·b + c rounds twice, as in tfjs and PyTorch: no silent FMA contraction (the optimiser mirrors them bit for bit)
  "-ffp-contract=off",
  "-pthread",
  "-DNAPI_VERSION=8",
  // EIGEN_FAST_MATH=0: Eigen's fast sqrt (x·rsqrt(x)) turns sqrt(Inf) into NaN and flushes tiny inputs.
  "-DEIGEN_NO_DEBUG",
  "-DEIGEN_DONT_PARALLELIZE",
  "-DEIGEN_FAST_MATH=0",
  `-I${headers}`,
  `-isystem${eigen}`,
];

async function buildVariant(march) {
  const objDir = join(here, "build", "obj", march);
  mkdirSync(objDir, { recursive: true });
  const objects = [];
  // Two compiler processes at a time: the machine has two cores.
  const queue = [...sources];
  await Promise.all(
    [0, 1].map(async () => {
      for (let src = queue.shift(); src; src = queue.shift()) {
        const obj = join(objDir, src.split("/").pop().replace(/\.cc$/, ".o"));
        await run("g++", [...common, `-march=${march}`, "-c", src, "-o", obj]);
        objects.push(obj);
      }
    }),
  );
  mkdirSync(outDir, { recursive: true });
  const target = join(outDir, `sseg-native-${march}.node`);
  const temp = `${target}.tmp`;
  await run("g++", [
    "-shared",
    "-pthread",
    "-static-libstdc++",
    "-static-libgcc",
    "-s",
    "-Wl,--gc-sections",
    "-Wl,--exclude-libs,ALL",
    ...objects.sort(),
    "-o",
    temp,
  ]);
  renameSync(temp, target);
  console.log(`built ${target} (${(statSync(target).size / 1024).toFixed(0)} KB)`);
}

const started = Date.now();
for (const march of variants) {
  try {
    await buildVariant(march);
  } catch (err) {
    console.error(`build:native: g++ failed for ${march}:\n${err.stderr ?? err.message}`);
    process.exit(1);
  }
}
console.log(`native kernel pack built in ${((Date.now() - started) / 1000).toFixed(1)} s`);
