import assert from "node:assert/strict";
import { mkdtemp, readdir, rm, truncate, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import type { RgbImage } from "../../src/io/pixels.js";
import { type FeatureSource, MaskCache, openFeatureSource, pseudoMasks } from "../../src/pseudo/index.js";

/** Two colour halves with a gradient, 32×24. */
function image(): RgbImage {
  const data = new Uint8Array(32 * 24 * 3);
  for (let y = 0; y < 24; y++)
    for (let x = 0; x < 32; x++) data.set(x < 16 ? [200, 30, 8 * y] : [20, 180, 4 * x], 3 * (y * 32 + x));
  return { width: 32, height: 24, data };
}

/** The rgb source, counting how often features are computed. */
async function countingSource(): Promise<FeatureSource & { calls: number }> {
  const rgb = await openFeatureSource("rgb");
  const counting = Object.create(rgb) as FeatureSource & { calls: number };
  counting.calls = 0;
  counting.extract = (img) => {
    counting.calls++;
    return rgb.extract(img);
  };
  return counting;
}

test("the mask cache reuses grid labels for the same pixels, source, K and seed, and recomputes otherwise", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "sseg-mask-cache-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const cache = new MaskCache(dir);
  const source = await countingSource();
  const first = pseudoMasks(source, image(), { k: 3, seed: 1, cache });
  const again = pseudoMasks(source, image(), { k: 3, seed: 1, cache });
  assert.equal(source.calls, 1, "second call served from the cache");
  assert.deepEqual(again.labelMap, first.labelMap);
  assert.deepEqual([cache.hits, cache.misses], [1, 1]);
  pseudoMasks(source, image(), { k: 4, seed: 1, cache });
  pseudoMasks(source, image(), { k: 3, seed: 2, cache });
  const changed = image();
  changed.data[0] ^= 1;
  pseudoMasks(source, changed, { k: 3, seed: 1, cache });
  assert.equal(source.calls, 4, "K, seed and pixels are part of the key");
  const [shard] = await readdir(dir);
  const files = await readdir(join(dir, shard));
  assert.ok(
    files.every((f) => f.endsWith(".sspm")),
    "no temp files left behind",
  );
});

test("a damaged cache entry is recomputed and rewritten; an unwritable cache is a clear error", async (t) => {
  const dir = await mkdtemp(join(tmpdir(), "sseg-mask-cache-"));
  t.after(() => rm(dir, { recursive: true, force: true }));
  const cache = new MaskCache(dir);
  const source = await countingSource();
  const expected = pseudoMasks(source, image(), { k: 3, seed: 1, cache });
  const key = cache.key(image(), `${source.name}|k=3|seed=1`);
  const file = join(dir, key.slice(0, 2), `${key}.sspm`);
  await truncate(file, 10);
  assert.deepEqual(pseudoMasks(source, image(), { k: 3, seed: 1, cache }).labelMap, expected.labelMap);
  assert.equal(source.calls, 2);
  assert.deepEqual(pseudoMasks(source, image(), { k: 3, seed: 1, cache }).labelMap, expected.labelMap);
  assert.equal(source.calls, 2, "the rewritten entry is used");
  const blocker = join(dir, "not-a-folder");
  await writeFile(blocker, "x");
  assert.throws(
    () => pseudoMasks(source, image(), { k: 2, seed: 1, cache: new MaskCache(blocker) }),
    /not-a-folder: cannot write the pseudo-mask cache/,
  );
});

test("the auto feature source is mobilenet when its converted weights are in models/, else rgb", async (t) => {
  const { existsSync } = await import("node:fs");
  const { PRETRAINED_MOBILENET_FILE } = await import("../../src/model/files.js");
  const source = await openFeatureSource("auto");
  t.after(() => source.dispose());
  assert.equal(
    source.name,
    existsSync(PRETRAINED_MOBILENET_FILE) ? `mobilenet:${PRETRAINED_MOBILENET_FILE}` : "rgb",
  );
});
