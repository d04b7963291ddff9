import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { mkdir, mkdtemp, readdir, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";

const ROOT = new URL("../../", import.meta.url).pathname;

test('a user project imports the package by its name: import { loadSegmenter } from "sseg"', async (t) => {
  const project = await mkdtemp(join(tmpdir(), "sseg-user-"));
  t.after(() => rm(project, { recursive: true, force: true }));
  await mkdir(join(project, "node_modules"));
  await symlink(ROOT, join(project, "node_modules", "sseg"), "dir");
  await writeFile(join(project, "package.json"), JSON.stringify({ type: "module" }));
  await writeFile(
    join(project, "main.js"),
    `import { loadSegmenter, VERSION } from "sseg";
const seg = await loadSegmenter({ untrained: "tiny" });
const image = { data: new Uint8Array(40 * 30 * 3).fill(128), width: 40, height: 30 };
const result = await seg.segment(image, ["cat", "dog"], { background: false });
console.log(JSON.stringify({ version: VERSION, width: result.width, labels: result.labelMap.length, segments: result.segments.map((s) => s.label) }));
seg.dispose();
`,
  );
  const r = spawnSync(process.execPath, ["main.js"], { cwd: project, encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  const printed = JSON.parse(r.stdout);
  assert.equal(printed.width, 40);
  assert.equal(printed.labels, 40 * 30);
  assert.ok(printed.segments.every((label: string) => label === "cat" || label === "dog"));
});

test("npm pack ships what an install needs (dist, assets, weights, samples, prebuilt kernels), not tests or data; the installed tarball runs", async (t) => {
  const project = await mkdtemp(join(tmpdir(), "sseg-pack-"));
  t.after(() => rm(project, { recursive: true, force: true }));
  // --ignore-scripts: `prepare` would rebuild dist/, which the test run has just built
  const pack = spawnSync("npm", ["pack", "--ignore-scripts", "--json", "--pack-destination", project], {
    cwd: ROOT,
    encoding: "utf8",
  });
  assert.equal(pack.status, 0, pack.stderr);
  const [{ filename, files }] = JSON.parse(pack.stdout) as [{ filename: string; files: { path: string }[] }];
  const paths = files.map((f) => f.path);
  for (const needed of [
    "dist/src/cli/main.js",
    "dist/src/index.js",
    "dist/src/index.d.ts",
    "assets/clip/bpe_simple_vocab_16e6.txt.gz",
    "pretrained/mobilenet_v2_nsfwjs.safetensors",
    "assets/model/model.safetensors",
    "assets/model/config.json",
    "docs/model-card.md",
    "samples/dune.jpg",
    "LICENSE",
  ])
    assert.ok(paths.includes(needed), `ships ${needed}`);
  assert.ok(
    paths.some((p) => p.startsWith("native/prebuilt/")),
    "ships the prebuilt kernel pack",
  );
  const unwanted = paths.filter(
    (p) =>
      /^(test|dist\/test|dist\/bench|data|runs|tools)\//.test(p) ||
      (p.startsWith("docs/") && p !== "docs/model-card.md"),
  );
  assert.deepEqual(unwanted, [], "no tests, fixtures, data, runs, tools or docs");

  const installed = join(project, "node_modules", "sseg");
  await mkdir(installed, { recursive: true });
  const untar = spawnSync("tar", ["-xzf", join(project, filename), "-C", installed, "--strip-components=1"]);
  assert.equal(untar.status, 0, String(untar.stderr));
  // the dependencies as npm would install them beside the package (offline: the repo's own copies)
  const manifest = JSON.parse(readFileSync(join(ROOT, "package.json"), "utf8"));
  for (const dependency of Object.keys(manifest.dependencies)) {
    const target = join(project, "node_modules", dependency);
    await mkdir(join(target, ".."), { recursive: true });
    await symlink(join(ROOT, "node_modules", dependency), target, "dir");
  }
  assert.ok((await readdir(join(project, "node_modules"))).includes("sseg"));
  const help = spawnSync(process.execPath, [join(installed, manifest.bin.sseg), "--help"], {
    encoding: "utf8",
  });
  assert.equal(help.status, 0, help.stderr);
  assert.match(help.stdout, /^ {2}segment\b/m);
  await writeFile(join(project, "package.json"), JSON.stringify({ type: "module" }));
  await writeFile(
    join(project, "main.js"),
    `import { loadSegmenter } from "sseg";
const seg = await loadSegmenter({ untrained: "tiny" });
const result = await seg.segment({ data: new Uint8Array(32 * 32 * 3).fill(90), width: 32, height: 32 }, ["cat"]);
console.log(result.labelMap.length, seg.engine.backend);
seg.dispose();
`,
  );
  const run = spawnSync(process.execPath, ["main.js"], { cwd: project, encoding: "utf8" });
  assert.equal(run.status, 0, run.stderr);
  assert.match(run.stdout, /^1024 \w+/);
});
