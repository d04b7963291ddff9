import assert from "node:assert/strict";
import { join } from "node:path";
import { test } from "node:test";
import { loadSegmenter } from "../../src/infer/load.js";
import { loadSegmenterFromUrl } from "../../src/infer/load-url.js";
import { REPO, servePage } from "../support/web.js";

test("loadSegmenterFromUrl: the shipped model over HTTP segments like the file one; a missing file is named", async (t) => {
  const { server, url } = await servePage(join(REPO, "assets", "model"));
  t.after(() => server.close());
  const steps: string[] = [];
  const segmenter = await loadSegmenterFromUrl(url, { onProgress: (p) => steps.push(p.status) });
  const fromFile = await loadSegmenter();
  try {
    assert.deepEqual([...new Set(steps)], ["engine", "model", "tokenizer", "ready"]);
    const sample = join(REPO, "samples", "composite_00027.jpg");
    const classes = ["cow", "rabbit", "tree"];
    const [overHttp, local] = [
      await segmenter.segment(sample, classes),
      await fromFile.segment(sample, classes),
    ];
    assert.ok(overHttp.segments.length > 0, "the sample's objects are found");
    assert.deepEqual(overHttp.segments, local.segments);
    assert.deepEqual(overHttp.labelMap, local.labelMap);
  } finally {
    segmenter.dispose();
    fromFile.dispose();
  }
  await assert.rejects(
    loadSegmenterFromUrl({ config: `${url}config.json`, weights: `${url}missing.safetensors` }),
    /missing\.safetensors: HTTP 404/,
  );
});
