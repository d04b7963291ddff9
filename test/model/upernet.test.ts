import assert from "node:assert/strict";
import { before, test } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { initEngine } from "../../src/engine/backend.js";
import {
  UPERNET_CONFIGS,
  UperNet,
  type UperNetConfig,
  upernetPaper,
  upernetTiny,
} from "../../src/model/upernet.js";
import { vit_base_patch16 } from "../../src/model/vit.js";
import {
  assertClose,
  counterUniform,
  Fixture,
  type ManifestEntry,
  manifestStateDict,
  onEveryKernelPath,
} from "../support/fixtures.js";

before(() => initEngine());

interface OracleCase {
  img_size: number;
  patch: number;
  dim: number;
  depth: number;
  heads: number;
  out_indices: [number, number, number, number];
  rescales: [number, number, number, number];
  channels: number;
  pool_scales: number[];
  classes: number;
  aux_channels: number;
  aux_level: number;
  weights: ManifestEntry[];
  gradients: string[];
}

function configFor(c: OracleCase): UperNetConfig {
  return {
    ...upernetTiny,
    imageSize: c.img_size,
    backbone: {
      ...vit_base_patch16,
      patchSize: c.patch,
      embedDim: c.dim,
      depth: c.depth,
      heads: c.heads,
      imgSize: c.img_size,
      layerScale: 1,
      dropPathRate: 0,
      outIndices: c.out_indices,
    },
    neckRescales: c.rescales,
    head: { channels: c.channels, poolScales: c.pool_scales, dropout: 0 },
    auxiliary: { channels: c.aux_channels, level: c.aux_level, dropout: 0, weight: 0.4 },
  };
}

const withCotangent = (x: tf.Tensor, seed: number) =>
  x.mul(tf.tensor(Float32Array.from(counterUniform(seed, x.size)), x.shape)).sum();

for (const name of ["p16", "p8"]) {
  test(`UperNet (${name}) loaded from mmseg's names matches PyTorch: eval logits, training logits, gradients`, () => {
    const fx = new Fixture("model/upernet_small.safetensors");
    const c = (fx.config as Record<string, OracleCase>)[name];
    const model = new UperNet(configFor(c), c.classes);
    const state = model.stateDict();
    onEveryKernelPath((path) => {
      model.loadStateDict(manifestStateDict(c.weights)); // a training-mode pass moves the BatchNorm statistics
      tf.tidy(() => {
        const images = tf.variable(fx.tensor(`${name}.input`), true);
        model.eval();
        assertClose(
          model.forward(images as tf.Tensor4D).logits,
          fx.data(`${name}.logits.eval`),
          `eval logits (${path})`,
          1e-4,
        );
        model.train();
        let logits: tf.Tensor | undefined;
        let aux: tf.Tensor | undefined;
        const wrt = [images, ...c.gradients.map((n) => state.get(n) as tf.Variable)];
        const { grads } = tf.variableGrads(() => {
          const out = model.forward(images as tf.Tensor4D);
          logits = tf.keep(out.logits);
          aux = tf.keep(out.auxLogits as tf.Tensor4D);
          return withCotangent(out.logits, 2001).add(
            withCotangent(out.auxLogits as tf.Tensor, 2002),
          ) as tf.Scalar;
        }, wrt);
        assertClose(logits as tf.Tensor, fx.data(`${name}.logits.train`), `training logits (${path})`, 1e-4);
        assertClose(aux as tf.Tensor, fx.data(`${name}.aux.train`), `auxiliary logits (${path})`, 1e-4);
        // float32 round-off through the 4 attention blocks reaches ~2e-4 of a gradient's largest entry (both sides)
        const checkGradient = (actual: tf.Tensor, key: string) => {
          const expected = fx.data(key);
          const largest = expected.data.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
          assertClose(actual, expected, `${key} (${path})`, 3e-4 * largest, 1e-3);
        };
        checkGradient(grads[images.name], `${name}.grad.input`);
        for (const [i, n] of c.gradients.entries())
          checkGradient(grads[wrt[i + 1].name], `${name}.grad.${n}`);
        images.dispose();
      });
    });
    model.dispose();
  });
}

test("UperNet presets: MAE ViT-B/16 under timm's names; stride-4 logits; bad configurations are named", () => {
  assert.deepEqual(Object.keys(UPERNET_CONFIGS), ["paper", "tiny", "tiny-mobilenet"]);
  const tiny = new UperNet(upernetTiny, 3).eval();
  const out = tf.tidy(() => tiny.forward(tf.zeros([1, 128, 128, 3]) as tf.Tensor4D).logits);
  assert.deepEqual(out.shape, [1, 32, 32, 3]);
  out.dispose();
  const names = [...tiny.stateDict().keys()];
  for (const key of [
    "backbone.blocks.5.attn.qkv.weight",
    "backbone.blocks.0.gamma_1",
    "neck.upsample_2x.0.weight",
  ])
    assert.ok(names.includes(key), key);
  assert.ok(names.includes("decode_head.psp_modules.3.1.bn.running_var"));
  tiny.dispose();
  // mmseg's upernet_mae-base (built at full size in no test: 160M values of random init take ~30 s here)
  const { backbone, neckRescales, head, auxiliary, training } = upernetPaper;
  assert.deepEqual(
    [
      backbone.patchSize,
      backbone.embedDim,
      backbone.depth,
      backbone.heads,
      backbone.layerScale,
      backbone.dropPathRate,
    ],
    [16, 768, 12, 12, 1, 0.1],
  );
  assert.deepEqual(
    [backbone.outIndices, neckRescales, head.channels, auxiliary.weight],
    [[3, 5, 7, 11], [4, 2, 1, 0.5], 768, 0.4],
  );
  assert.deepEqual([training.lr, training.layerDecay, training.warmupSteps], [1e-4, 0.65, 1500]);
  const mobile = new UperNet(UPERNET_CONFIGS["tiny-mobilenet"], 3).eval();
  const mobileOut = tf.tidy(() => mobile.forward(tf.zeros([1, 128, 128, 3]) as tf.Tensor4D).logits);
  assert.deepEqual(mobileOut.shape, [1, 32, 32, 3], "the MobileNetV2's strides 4–32 need no neck");
  assert.equal(mobile.neck, null);
  mobileOut.dispose();
  mobile.dispose();
  assert.throws(() => new UperNet(upernetTiny, 0), /classes must be a positive integer/);
  assert.throws(
    () => new UperNet({ ...upernetTiny, neckRescales: [4, 2, 1, 0.25] }, 2),
    /rescales must be \[4,2,1,0.5\] or \[2,1,0.5,0.25\]/,
  );
});
