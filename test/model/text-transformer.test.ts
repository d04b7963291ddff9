import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, test } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { initEngine } from "../../src/engine/backend.js";
import { tensorGrowth } from "../../src/engine/checks.js";
import { Rng } from "../../src/engine/rng.js";
import {
  quickGelu,
  TextTransformer,
  type TextTransformerConfig,
  textTransformerPaper,
  textTransformerSmall,
  tokenizeCaptions,
} from "../../src/model/text-transformer.js";
import { ClipTokenizer } from "../../src/text/tokenizer.js";
import {
  assertClose,
  counterUniform,
  Fixture,
  fixturePath,
  type ManifestEntry,
  manifestStateDict,
  onEveryKernelPath,
} from "../support/fixtures.js";

before(() => initEngine());

const fx = new Fixture("model/text_transformer_w64_l2.safetensors");
const fxConfig = fx.config as unknown as TextTransformerConfig & {
  captions: string[];
  usedTokenIds: number[];
  weights: ManifestEntry[];
};

/** The fixture's model, built once (regenerating its 3.3M weights takes seconds) and shared by the tests. */
let sharedModel: TextTransformer | undefined;
function fixtureModel(): TextTransformer {
  if (!sharedModel) {
    sharedModel = new TextTransformer(fxConfig);
    sharedModel.loadStateDict(manifestStateDict(fxConfig.weights));
  }
  return sharedModel;
}
after(() => sharedModel?.dispose());

const fixtureIds = () => fx.tensor("input.ids").cast("int32") as tf.Tensor2D;

test("a 2-layer width-64 TextTransformer loaded from GroupViT's names matches its pooled output and gradients", () => {
  assertClose(
    { shape: [8], data: Float32Array.from(counterUniform(1, 8)) },
    fx.data("generator_check"),
    "weight generator",
  );
  const model = fixtureModel();
  const named = model.namedParameters();
  const recorded = named.filter(([name]) => fx.has(`grad.state.${name}`));
  assert.equal(
    recorded.length,
    3 + 12,
    "positional embedding, final LayerNorm and the 12 tensors of block 0",
  );
  onEveryKernelPath((path) => {
    tf.tidy(() => {
      const ids = fixtureIds();
      let output: tf.Tensor | undefined;
      const { grads } = tf.variableGrads(
        () => {
          output = tf.keep(model.encode(ids));
          return output.mul(fx.tensor("cotangent")).sum() as tf.Scalar;
        },
        named.map(([, v]) => v),
      );
      assertClose(output!, fx.data("output"), `pooled output (${path})`, 1e-5);
      const tokenRows = tf.gather(
        grads[model.tokenEmbedding.weight.name],
        tf.tensor1d(fxConfig.usedTokenIds, "int32"),
      );
      assertClose(tokenRows, fx.data("grad.token_embedding_rows"), `token-embedding rows (${path})`, 1e-4);
      for (const [name, v] of recorded) {
        assertClose(grads[v.name], fx.data(`grad.state.${name}`), `grad ${name} (${path})`, 1e-4);
      }
    });
  });
});

test("encoding each caption alone (padding trimmed after its end-of-text token) gives the batch's rows", () => {
  const model = fixtureModel();
  const expected = fx.data("output");
  const width = fxConfig.width;
  onEveryKernelPath((path) => {
    tf.tidy(() => {
      const ids = fixtureIds();
      for (let row = 0; row < ids.shape[0]; row++) {
        const alone = model.encode(ids.slice([row, 0], [1, -1]));
        const reference = { shape: [1, width], data: expected.data.subarray(row * width, (row + 1) * width) };
        assertClose(alone, reference, `caption ${row} alone (${path})`, 1e-5);
      }
    });
  });
});

test("tokenizeCaptions gives CLIP's rows as the [B, 77] int32 tensor encode takes", async () => {
  const tokenizer = await ClipTokenizer.load();
  tf.tidy(() => {
    const ids = tokenizeCaptions(tokenizer, fxConfig.captions);
    assert.equal(ids.dtype, "int32");
    assert.deepEqual(ids.shape, [3, 77]);
    assert.deepEqual(Array.from(ids.dataSync()), Array.from(fixtureIds().dataSync()));
  });
});

const presets = JSON.parse(readFileSync(fixturePath("model/text_presets.json"), "utf8")) as Record<
  string,
  number
>;

for (const [name, config] of Object.entries({ textTransformerPaper, textTransformerSmall })) {
  test(`${name}: parameter count equals GroupViT's, and encode gives [B, width]`, () => {
    const model = new TextTransformer(config, { rng: new Rng(3) }).eval();
    assert.equal(model.parameterCount(), presets[name]);
    tf.tidy(() => {
      const ids = tf.tensor2d([[49406, 320, 1125, 539, 320, 2368, 269, 49407, 0, 0]], [1, 10], "int32");
      const out = model.encode(ids);
      assert.deepEqual(out.shape, [1, config.width]);
      assert.ok(out.isFinite().all().dataSync()[0]);
    });
    model.dispose();
  });
}

test("weights start as GroupViT's init: scaled normal projections, zero attention biases, small embeddings", () => {
  // the paper's widths and depth set the scales; a short vocabulary keeps the token table small
  const model = new TextTransformer({ ...textTransformerPaper, vocabSize: 1000 }, { rng: new Rng(5) });
  const std = (v: tf.Tensor) => tf.tidy(() => tf.moments(v).variance.sqrt().dataSync()[0]);
  const width = 256;
  const projStd = width ** -0.5 * (2 * 12) ** -0.5;
  const block = model.transformer.resblocks.items[3];
  const expected: [string, tf.Tensor, number][] = [
    ["attn.in_proj_weight", block.attn.inProjWeight, width ** -0.5],
    ["attn.out_proj.weight", block.attn.outProj.weight, projStd],
    ["mlp.c_fc.weight", block.mlp.cFc.weight, (2 * width) ** -0.5],
    ["mlp.c_proj.weight", block.mlp.cProj.weight, projStd],
    ["token_embedding.weight", model.tokenEmbedding.weight, 0.02],
    ["positional_embedding", model.positionalEmbedding, 0.01],
  ];
  for (const [name, value, target] of expected) {
    assert.ok(Math.abs(std(value) / target - 1) < 0.03, `${name}: std ${std(value)}, expected ${target}`);
  }
  for (const bias of [block.attn.inProjBias, block.attn.outProj.bias!]) {
    assert.ok(
      bias.dataSync().every((v) => v === 0),
      "zero attention biases",
    );
  }
  model.dispose();
});

test("QuickGELU is x·σ(1.702x)", () => {
  tf.tidy(() => {
    const x = [-3, -0.5, 0, 0.7, 4];
    const expected = x.map((v) => v / (1 + Math.exp(-1.702 * v)));
    assertClose(
      quickGelu(tf.tensor1d(x)),
      { shape: [5], data: Float32Array.from(expected) },
      "quickGelu",
      1e-6,
    );
  });
});

test("bad token tensors are refused with the problem named", () => {
  const model = new TextTransformer({ ...textTransformerPaper, layers: 1, width: 64, heads: 1 });
  tf.tidy(() => {
    assert.throws(
      () => model.encode(tf.zeros([2, 77]) as tf.Tensor2D),
      /expected int32 token ids \[B, T\] but received float32 \[2,77\]/,
    );
    assert.throws(
      () => model.encode(tf.zeros([2, 7, 3], "int32") as unknown as tf.Tensor2D),
      /expected int32 token ids \[B, T\] but received int32 \[2,7,3\]/,
    );
    assert.throws(
      () => model.encode(tf.zeros([1, 78], "int32") as tf.Tensor2D),
      /78 token positions exceed the context length 77/,
    );
    assert.throws(
      () => model.encode(tf.tensor2d([[49406, 49408]], [1, 2], "int32")),
      /token id 49408 \(row 0\) is outside the vocabulary 0\.\.49407/,
    );
    assert.throws(() => model.encode(tf.zeros([0, 77], "int32") as tf.Tensor2D), /empty token ids \[0,77\]/);
  });
  model.dispose();
});

test("encode leaks no tensors", () => {
  const model = fixtureModel();
  const ids = fixtureIds();
  const growth = tensorGrowth(() => model.encode(ids).dispose());
  assert.deepEqual(growth, { tensors: 0, bytes: 0 });
  ids.dispose();
});
