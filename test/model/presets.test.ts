import assert from "node:assert/strict";
import { test } from "node:test";
import { maskformerPixelDecoder } from "../../src/model/pixel-decoder.js";
import { CONFIGS, micro, paper, tiny } from "../../src/model/presets.js";
import { projectorPaper } from "../../src/model/projector.js";
import { swin_nano, swin_small } from "../../src/model/swin.js";
import { textTransformerPaper } from "../../src/model/text-transformer.js";
import { maskformerTransformerDecoder } from "../../src/model/transformer-decoder.js";

test("paper is the published sizes the PyTorch fixtures were made with", () => {
  assert.deepEqual(paper.backbone, swin_small);
  assert.deepEqual(paper.pixelDecoder, maskformerPixelDecoder);
  const { maskDim: _m, embedDim: _e, ...decoder } = maskformerTransformerDecoder;
  assert.deepEqual(paper.decoder, decoder);
  assert.deepEqual(paper.text, textTransformerPaper);
  assert.deepEqual(paper.projector, { hiddenDim: projectorPaper.hiddenDim, outDim: projectorPaper.outDim });
});

test("tiny is Swin-nano with 4-token windows; every preset infers at its own training size by default", () => {
  assert.deepEqual(tiny.backbone, { ...swin_nano, windowSize: 4 });
  for (const config of [...Object.values(CONFIGS), micro])
    assert.equal(config.inference?.shortSide, config.imageSize, config.name);
  assert.deepEqual(Object.keys(CONFIGS), ["paper", "tiny", "tiny-mobilenet", "tiny-regions"]);
});
