import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { before, test } from "node:test";
import { fileURLToPath } from "node:url";
import { COMPOSITE_CLASSES } from "../../src/data/composites/catalog.js";
import { initEngine } from "../../src/engine/backend.js";
import { DEFAULT_MODEL_PATH, hasDefaultModel, loadSegmenter } from "../../src/infer/load.js";
import { tiny } from "../../src/model/presets.js";

before(() => initEngine());

const SAMPLE = fileURLToPath(new URL("../../../samples/composite_00046.jpg", import.meta.url));

// composite_00046.jpg holds a dingo (class dog, 7,710 of its 65,536 pixels) on a pier (samples/README.md)
test("the shipped default model loads and names the dominant object of a sample composite", async () => {
  assert.ok(
    hasDefaultModel(),
    `${DEFAULT_MODEL_PATH}: the shipped model is missing (model.safetensors + config.json)`,
  );
  const segmenter = await loadSegmenter();
  try {
    assert.equal(segmenter.trained, true);
    const result = await segmenter.segment(SAMPLE, COMPOSITE_CLASSES);
    const [dominant] = [...result.segments].sort((a, b) => b.pixels - a.pixels);
    assert.equal(
      dominant?.label,
      "dog",
      JSON.stringify(result.segments.map(({ label, pixels }) => ({ label, pixels }))),
    );
    const background = result.labelMap.filter((label) => label === 0).length / result.labelMap.length;
    assert.ok(
      background > 0.3,
      `the no-object rule leaves the wallpaper as background (${(100 * background).toFixed(0)} %)`,
    );
  } finally {
    segmenter.dispose();
  }
});

test("the shipped model's configuration is the tiny preset, so `sseg train --init assets/model` fine-tunes it as is", () => {
  const stored = JSON.parse(readFileSync(join(DEFAULT_MODEL_PATH, "config.json"), "utf8"));
  assert.deepEqual(stored, JSON.parse(JSON.stringify(tiny)));
});
