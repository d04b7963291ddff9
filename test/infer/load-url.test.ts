import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { loadSegmenterFromUrl } from "../../src/infer/load-url.js";
import { REPO, servePage } from "../support/web.js";

test("loadSegmenterFromUrl: the shipped model over HTTP segments like the file one; a missing file is named", async (t) => {
  const { server, url } = await servePage(join(REPO, "assets", "model"));
  t.after(() => server.close());
  const steps: string[] = [];
  const segmenter = await loadSegmenterFromUrl(url, { onProgress: (p) => steps.push(p.status) });
  try {
    assert.deepEqual([...new Set(steps)], ["engine", "model", "tokenizer", "ready"]);
    const result = await segmenter.segment(join(REPO, "samples", "composite_00027.jpg"), [
      "cow",
      "dog",
      "tree",
    ]);
    assert.equal(result.segments[0]?.label, "cow");
  } finally {
    segmenter.dispose();
  }
  await assert.rejects(
    loadSegmenterFromUrl({ config: `${url}config.json`, weights: `${url}missing.safetensors` }),
    /missing\.safetensors: HTTP 404/,
  );
});
