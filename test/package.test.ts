import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdir, mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
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
