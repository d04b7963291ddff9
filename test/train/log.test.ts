import assert from "node:assert/strict";
import { appendFile, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import sharp from "sharp";
import { appendLog, lossCurveSvg, readLog, smooth, writeLossCurve } from "../../src/train/log.js";

test("the JSONL log appends, drops steps a resumed run redoes, and survives a torn last line", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "sseg-log-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const path = join(dir, "log.jsonl");
  assert.deepEqual(await readLog(path), [], "a missing log is empty");
  const records = [1, 2, 3].map((step) => ({
    step,
    losses: { total: 10 / step, mask: 5 / step },
    lr: 0.001,
  }));
  await appendLog(path, records.slice(0, 2));
  await appendLog(path, records.slice(2));
  await appendFile(path, '{"step": 4, "losses": {"tot');
  assert.deepEqual(await readLog(path), records);
  assert.deepEqual(await readLog(path, 3), records.slice(0, 2));
});

test("loss curves: smoothed series with a legend, rendered to a PNG", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "sseg-curve-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  assert.deepEqual(smooth([1, Number.NaN, 3], 0.5), [1, 1, 2]);
  const records = Array.from({ length: 50 }, (_, i) => ({
    step: i,
    losses: { total: 5 - i / 20, contrastive: 3 - i / 40 },
  }));
  const svg = lossCurveSvg(records, "run <tiny>");
  assert.match(svg, />total</);
  assert.match(svg, />contrastive</);
  assert.match(svg, /run &lt;tiny&gt;/);
  const path = join(dir, "loss.png");
  await writeLossCurve(path, records, "tiny");
  const meta = await sharp(path).metadata();
  assert.deepEqual([meta.format, meta.width, meta.height], ["png", 900, 500]);
});

test("validations get a second panel; a 200,000-step log still draws", () => {
  const records = Array.from({ length: 200_000 }, (_, i) => ({
    step: i + 1,
    losses: { total: 5 - i / 1e5 },
    ...(i % 50_000 === 49_999 ? { val: { miouWithBackground: i / 4e5, miouWithoutBackground: 0.5 } } : {}),
  }));
  const svg = lossCurveSvg(records, "long run");
  assert.match(svg, /height="1000"/);
  assert.match(svg, />val mIoU</);
  assert.match(svg, />validation \(%\)</);
  assert.doesNotMatch(lossCurveSvg(records.slice(0, 10), "short"), /validation/);
});
