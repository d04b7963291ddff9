import assert from "node:assert/strict";
import { readdirSync, readFileSync } from "node:fs";
import { test } from "node:test";
import { maskformerPixelDecoder } from "../../src/model/pixel-decoder.js";
import { CONFIGS, micro, paper, tiny, tinySwin } from "../../src/model/presets.js";
import { projectorPaper } from "../../src/model/projector.js";
import { checkConfig, SSegModel } from "../../src/model/sseg.js";
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

test("tiny-swin is Swin-nano with 4-token windows; every preset infers at its own training size by default", () => {
  assert.deepEqual(tinySwin.backbone, { ...swin_nano, windowSize: 4 });
  for (const config of [...Object.values(CONFIGS), micro])
    assert.equal(config.inference?.shortSide, config.imageSize, config.name);
  assert.deepEqual(Object.keys(CONFIGS), ["paper", "tiny", "tiny-swin", "tiny-mobilenet", "tiny-regions"]);
});

test("tiny, the default, is the naming recipe: tiny-swin's sizes on the frozen pretrained MobileNetV2 with the region head (pooling res4 too)", () => {
  const { name: _tiny, regions, training, backbone, inference, ...sizes } = tiny;
  const { name: _swin, backbone: _swinBackbone, inference: swinInference, ...swinSizes } = tinySwin;
  assert.deepEqual(sizes, swinSizes, "image size, decoder, text tower and projectors as tiny-swin");
  assert.deepEqual(backbone, { kind: "mobilenet_v2", pretrained: true, lrScale: 0 });
  assert.deepEqual(regions, {
    hiddenDim: 128,
    withQuery: false,
    batchNorm: true,
    backgroundWeight: 1,
    backboneLevel: "res4",
  });
  assert.deepEqual(inference, {
    ...swinInference,
    background: { noObject: true },
    masks: "winner",
    refine: true,
  });
  assert.deepEqual(training, { lr: 3e-4, warmupSteps: 50 });
});

test("configs/naming/tiny-frozen-res4.json, the shipped runs' configuration, is tiny but for its name and the mask and refinement rules chosen after the run", () => {
  const path = new URL("../../../configs/naming/tiny-frozen-res4.json", import.meta.url);
  const { name: _file, ...file } = JSON.parse(readFileSync(path, "utf8"));
  const { name: _tiny, ...preset } = tiny;
  const { masks, refine, ...inference } = preset.inference!;
  assert.equal(masks, "winner");
  assert.equal(refine, true);
  assert.deepEqual(file, JSON.parse(JSON.stringify({ ...preset, inference })));
});

test("every configs/naming/*.json is a model configuration that builds", () => {
  const dir = new URL("../../../configs/naming/", import.meta.url);
  const files = readdirSync(dir).filter((file) => file.endsWith(".json"));
  assert.ok(files.length >= 5);
  for (const file of files) {
    const config = checkConfig(JSON.parse(readFileSync(new URL(file, dir), "utf8")), file);
    assert.equal(`${config.name}.json`, file, "each file is named after its configuration");
    new SSegModel(config).dispose();
  }
});
