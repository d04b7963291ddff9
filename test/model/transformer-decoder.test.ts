import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { before, test } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { initEngine } from "../../src/engine/backend.js";
import { Rng } from "../../src/engine/rng.js";
import { PixelDecoder, type PixelDecoderConfig } from "../../src/model/pixel-decoder.js";
import {
  maskformerTransformerDecoder,
  smallTransformerDecoder,
  TransformerPredictor,
  type TransformerPredictorConfig,
} from "../../src/model/transformer-decoder.js";
import {
  assertClose,
  counterUniform,
  Fixture,
  fixturePath,
  type ManifestEntry,
  manifestStateDict,
  onEveryKernelPath,
} from "../support/fixtures.js";
import { FEATURES, featureMaps, stateUnder } from "../support/maskformer-head.js";

before(() => initEngine());

interface HeadFixtureConfig {
  backbone_channels: number[];
  conv_dim: number;
  mask_dim: number;
  norm_groups: number;
  hidden_dim: number;
  nheads: number;
  dim_feedforward: number;
  dec_layers: number;
  num_queries: number;
  embed_dim: number;
  weights: ManifestEntry[];
}

function predictorConfig(cfg: HeadFixtureConfig): TransformerPredictorConfig {
  return {
    inChannels: cfg.backbone_channels[3],
    hiddenDim: cfg.hidden_dim,
    heads: cfg.nheads,
    feedforwardDim: cfg.dim_feedforward,
    layers: cfg.dec_layers,
    queries: cfg.num_queries,
    maskDim: cfg.mask_dim,
    embedDim: cfg.embed_dim,
    dropout: 0.1,
    enforceInputProjection: false,
  };
}

/** The fixture's MaskFormerHead: pixel decoder and predictor with the manifest's weights, in eval mode. */
function loadHead(fx: Fixture): { pixelDecoder: PixelDecoder; predictor: TransformerPredictor } {
  const cfg = fx.config as unknown as HeadFixtureConfig;
  const pixelDecoder = new PixelDecoder({
    inChannels: cfg.backbone_channels as unknown as PixelDecoderConfig["inChannels"],
    convDim: cfg.conv_dim,
    maskDim: cfg.mask_dim,
    normGroups: cfg.norm_groups,
  }).eval();
  const predictor = new TransformerPredictor(predictorConfig(cfg)).eval();
  const state = manifestStateDict(cfg.weights);
  pixelDecoder.loadStateDict(stateUnder(state, "pixel_decoder."));
  predictor.loadStateDict(stateUnder(state, "predictor."));
  return { pixelDecoder, predictor };
}

function uniformLike(seed: number, t: tf.Tensor): tf.Tensor {
  return tf.tensor(Float32Array.from(counterUniform(seed, t.size)), t.shape);
}

test("the head loaded from MaskFormer's names matches every layer's masks, embeddings and the gradients", () => {
  const fx = new Fixture("model/maskformer_head.safetensors");
  const { pixelDecoder, predictor } = loadHead(fx);
  const checked = [
    "pixel_decoder.layer_4.norm.weight",
    "predictor.transformer.decoder.layers.1.self_attn.in_proj_weight",
    "predictor.transformer.decoder.layers.2.multihead_attn.in_proj_weight",
    "predictor.transformer.decoder.norm.weight",
    "predictor.query_embed.weight",
    "predictor.input_proj.weight",
    "predictor.mask_embed.layers.0.weight",
    "predictor.semantic_embed.bias",
  ].map((key) => {
    const [module, name] = key.startsWith("pixel_decoder.")
      ? [pixelDecoder, key.slice("pixel_decoder.".length)]
      : [predictor, key.slice("predictor.".length)];
    return [key, module.stateDict().get(name)!] as const;
  });
  onEveryKernelPath((path) => {
    tf.tidy(() => {
      const res5 = tf.variable(fx.tensor("input.res5"), true);
      const features = featureMaps(
        FEATURES.map((name) => (name === "res5" ? res5 : fx.tensor(`input.${name}`))),
      );
      let masks: tf.Tensor | undefined;
      let embeddings: tf.Tensor | undefined;
      let last: tf.Tensor | undefined;
      const { grads } = tf.variableGrads(() => {
        const { maskFeatures, transformerInput } = pixelDecoder.forward(features);
        const out = predictor.forward(transformerInput, maskFeatures);
        masks = tf.keep(tf.stack([...out.auxMasks, out.predMasks])); // [L, B, Q, H/4, W/4]
        embeddings = tf.keep(out.layerQueryEmbeddings); // [L, B, Q, D]
        last = tf.keep(out.queryEmbeddings);
        return masks
          .mul(uniformLike(1002, masks))
          .sum()
          .add(embeddings.mul(uniformLike(1003, embeddings)).sum()) as tf.Scalar;
      }, [res5, ...checked.map(([, v]) => v)]);
      assertClose(masks!, fx.data("masks"), `mask logits, every layer (${path})`, 1e-4);
      assertClose(embeddings!, fx.data("embeddings"), `semantic embeddings, every layer (${path})`, 1e-4);
      const layers = embeddings!.shape[0];
      assertClose(
        last!,
        { shape: last!.shape, data: embeddings!.slice([layers - 1], [1]).dataSync() as Float32Array },
        "last layer",
      );
      assertClose(grads[res5.name], fx.data("grad.head.input.res5"), `d/dres5 (${path})`, 1e-4, 1e-3);
      for (const [key, v] of checked)
        assertClose(grads[v.name], fx.data(`grad.head.state.${key}`), `d/d${key} (${path})`, 1e-4, 1e-3);
      res5.dispose();
    });
  });
  pixelDecoder.dispose();
  predictor.dispose();
});

test("auxiliary: false computes only the last layer's masks, the same values", () => {
  const fx = new Fixture("model/maskformer_head.safetensors");
  const { pixelDecoder, predictor } = loadHead(fx);
  tf.tidy(() => {
    const features = featureMaps(FEATURES.map((name) => fx.tensor(`input.${name}`)));
    const { maskFeatures, transformerInput } = pixelDecoder.forward(features);
    const all = predictor.forward(transformerInput, maskFeatures);
    const lastOnly = predictor.forward(transformerInput, maskFeatures, { auxiliary: false });
    assert.equal(all.auxMasks.length, 2);
    assert.equal(lastOnly.auxMasks.length, 0);
    assertClose(
      lastOnly.predMasks,
      { shape: all.predMasks.shape, data: all.predMasks.dataSync() as Float32Array },
      "pred masks",
      1e-5,
      0,
    );
  });
  pixelDecoder.dispose();
  predictor.dispose();
});

test("dropout acts in training only: train-mode outputs are random, eval-mode outputs deterministic", () => {
  const config: TransformerPredictorConfig = {
    ...smallTransformerDecoder,
    inChannels: 24,
    hiddenDim: 32,
    heads: 4,
    feedforwardDim: 64,
    layers: 2,
    queries: 6,
    maskDim: 8,
    embedDim: 8,
  };
  const run = (predictor: TransformerPredictor) =>
    tf.tidy(() => {
      const out = predictor.forward(
        tf.randomNormal([2, 3, 4, 24], 0, 1, "float32", 1) as tf.Tensor4D,
        tf.randomNormal([2, 12, 16, 8], 0, 1, "float32", 2) as tf.Tensor4D,
      );
      return tf
        .concat([out.predMasks.flatten(), out.layerQueryEmbeddings.flatten()])
        .dataSync() as Float32Array;
    });
  const predictor = new TransformerPredictor(config, { rng: new Rng(5) });
  const [train1, train2] = [run(predictor), run(predictor)];
  predictor.eval();
  const [eval1, eval2] = [run(predictor), run(predictor)];
  // Equal up to the native kernels' run-to-run rounding (their threaded exp is not bit-reproducible)
  const maxDifference = (a: Float32Array, b: Float32Array) =>
    a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i])), 0);
  assert.ok(maxDifference(eval1, eval2) < 1e-5, "eval: deterministic");
  assert.ok(maxDifference(train1, train2) > 0.1, "training: two draws differ");
  assert.ok(maxDifference(train1, eval1) > 0.1, "training differs from eval");
  const noDropout = new TransformerPredictor({ ...config, dropout: 0 }, { rng: new Rng(5) });
  assert.ok(maxDifference(run(noDropout), eval1) < 1e-5, "dropout 0 in training = eval");
  predictor.dispose();
  noDropout.dispose();
});

interface PresetReference {
  config: { backbone_channels: number[]; num_queries: number; dec_layers: number };
  parameters: { predictor: number; semantic_embed: number };
  "448": { masks: number[]; embeddings: number[] };
  keys: [string, number[]][];
}

const presets = JSON.parse(readFileSync(fixturePath("model/maskformer_head_presets.json"), "utf8")) as Record<
  string,
  PresetReference
>;

for (const [name, preset] of [
  ["paper", maskformerTransformerDecoder],
  ["small", smallTransformerDecoder],
] as const) {
  test(`${name} configuration on Swin-S res5: MaskFormer's state-dict keys (class_embed → semantic_embed) and size`, () => {
    const reference = presets[name];
    const predictor = new TransformerPredictor({ ...preset, inChannels: 768 }, { rng: new Rng(3) });
    const expected = reference.keys
      .filter(([key]) => key.startsWith("predictor."))
      .map(([key, shape]) => [key.slice("predictor.".length), shape]);
    assert.deepEqual(
      [...predictor.stateDict()].map(([key, v]) => [key, v.shape]),
      expected,
    );
    assert.equal(predictor.parameterCount(), reference.parameters.predictor);
    assert.equal(predictor.semanticEmbed.parameterCount(), reference.parameters.semantic_embed);
    predictor.dispose();
  });
}

test("paper configuration: 64 queries, 6 layers; outputs at a small input have PyTorch's 448² shapes scaled down", () => {
  const predictor = new TransformerPredictor({ ...maskformerTransformerDecoder, inChannels: 768 }).eval();
  const reference = presets["paper"]["448"];
  assert.deepEqual(reference.masks, [6, 1, 64, 112, 112]);
  assert.deepEqual(reference.embeddings, [6, 1, 64, 256]);
  tf.tidy(() => {
    const out = predictor.forward(
      tf.randomNormal([2, 2, 3, 768], 0, 1, "float32", 1) as tf.Tensor4D,
      tf.randomNormal([2, 16, 24, 256], 0, 1, "float32", 2) as tf.Tensor4D,
    );
    assert.deepEqual(out.predMasks.shape, [2, 64, 16, 24]);
    assert.deepEqual(
      out.auxMasks.map((m) => m.shape),
      Array(5).fill([2, 64, 16, 24]),
    );
    assert.deepEqual(out.queryEmbeddings.shape, [2, 64, 256]);
    assert.deepEqual(out.layerQueryEmbeddings.shape, [6, 2, 64, 256]);
    assert.ok(out.predMasks.isFinite().all().dataSync()[0]);
  });
  predictor.dispose();
});

test("input_proj exists only when res5's width differs from the hidden width, or when enforced", () => {
  const base: TransformerPredictorConfig = { ...smallTransformerDecoder, inChannels: 128 };
  const keysOf = (config: TransformerPredictorConfig) => {
    const predictor = new TransformerPredictor(config);
    const keys = [...predictor.stateDict().keys()].filter((k) => k.startsWith("input_proj."));
    predictor.dispose();
    return keys;
  };
  assert.deepEqual(keysOf(base), []);
  assert.deepEqual(keysOf({ ...base, enforceInputProjection: true }), [
    "input_proj.weight",
    "input_proj.bias",
  ]);
  assert.deepEqual(keysOf({ ...base, inChannels: 96 }), ["input_proj.weight", "input_proj.bias"]);
});

test("MaskFormer's init: xavier matrices, zero attention biases, N(0, 1) queries", () => {
  const predictor = new TransformerPredictor(
    { ...smallTransformerDecoder, inChannels: 768 },
    { rng: new Rng(9) },
  );
  const state = predictor.stateDict();
  const values = (key: string) => state.get(key)!.dataSync() as Float32Array;
  const maxAbs = (key: string) => values(key).reduce((m, v) => Math.max(m, Math.abs(v)), 0);
  const layer = "transformer.decoder.layers.3.";
  for (const [key, bound] of [
    [`${layer}self_attn.in_proj_weight`, Math.sqrt(6 / (128 + 384))],
    [`${layer}multihead_attn.out_proj.weight`, Math.sqrt(6 / (128 + 128))],
    [`${layer}linear1.weight`, Math.sqrt(6 / (128 + 512))],
    ["input_proj.weight", Math.sqrt(3 / 768)],
  ] as const) {
    assert.ok(
      maxAbs(key) <= bound && maxAbs(key) > 0.9 * bound,
      `${key}: max |w| ${maxAbs(key)}, bound ${bound}`,
    );
  }
  for (const key of [`${layer}self_attn.in_proj_bias`, `${layer}self_attn.out_proj.bias`, "input_proj.bias"])
    assert.equal(maxAbs(key), 0, key);
  const queries = values("query_embed.weight");
  const std = Math.sqrt(queries.reduce((s, v) => s + v * v, 0) / queries.length);
  assert.ok(Math.abs(std - 1) < 0.05, `query_embed std ${std}`);
  predictor.dispose();
});

test("wrong input widths and a checkpoint with a mis-shaped key are named in the error", () => {
  const predictor = new TransformerPredictor({ ...smallTransformerDecoder, inChannels: 96, layers: 1 });
  tf.tidy(() => {
    assert.throws(
      () => predictor.forward(tf.zeros([1, 2, 2, 95]), tf.zeros([1, 8, 8, 128])),
      /expected input \[B, h, w, 96\] but received \[1,2,2,95\]/,
    );
    assert.throws(
      () => predictor.forward(tf.zeros([1, 2, 2, 96]), tf.zeros([1, 8, 8, 64])),
      /expected mask features \[1, H, W, 128\] but received \[1,8,8,64\]/,
    );
  });
  const state = new Map(
    [...predictor.stateDict()].map(([k, v]) => [k, { shape: v.shape, data: v.dataSync() as Float32Array }]),
  );
  state.set("query_embed.weight", { shape: [100, 128], data: new Float32Array(100 * 128) });
  state.set("class_embed.weight", { shape: [151, 128], data: new Float32Array(151 * 128) });
  assert.throws(
    () => predictor.loadStateDict(state),
    (e: Error) =>
      /key "query_embed.weight": checkpoint shape \[100,128\] but the model expects \[32,128\]/.test(
        e.message,
      ) && /unexpected key "class_embed.weight"/.test(e.message),
  );
  predictor.dispose();
});
