import assert from "node:assert/strict";
import { test } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { gelu, layerNorm } from "../../../src/engine/kernels/norm.js";
import { Rng } from "../../../src/engine/rng.js";
import {
  compareKernelPaths,
  randomChoice,
  randomInt,
  randomShape,
  randomTensor,
  seededRng,
  setUpKernelParity,
} from "../../support/parity.js";

setUpKernelParity(["SsegLayerNorm", "SsegLayerNormGrad", "SsegGelu", "SsegGeluGrad"]);

const TOL = { atol: 2e-5, rtol: 1e-4 };

test("LayerNorm, fused: forward and the gradients of x, γ and β equal the tfjs chain", () => {
  const rng = seededRng("layer norm");
  for (let i = 0; i < 30; i++) {
    const cols = randomChoice(rng, [1, 3, 16, 32, 65, 128, 384]);
    const shape = [...randomShape(rng, randomInt(rng, 0, 3), 9), cols];
    const scale = randomChoice(rng, [0.01, 1, 30]);
    const seed = rng.nextUint32();
    compareKernelPaths(
      () => {
        const caseRng = new Rng(seed);
        const x = randomTensor(caseRng, shape, { scale, mean: scale });
        const gamma = randomTensor(caseRng, [cols]);
        const beta = randomTensor(caseRng, [cols]);
        const cotangent = randomTensor(caseRng, shape);
        const f = (a: tf.Tensor, g: tf.Tensor, b: tf.Tensor) => layerNorm(a, g, b, 1e-5).mul(cotangent).sum();
        return [layerNorm(x, gamma, beta, 1e-5), ...tf.grads(f)([x, gamma, beta])];
      },
      {
        ...TOL,
        expectNative: ["SsegLayerNorm", "SsegLayerNormGrad"],
        label: `layer norm [${shape}] scale ${scale}`,
      },
    );
  }
});

test("GELU, fused: forward and gradient equal the tfjs chain, NaN and ±Inf included", () => {
  const rng = seededRng("gelu");
  for (const shape of [[1], [7], [4097], [3, 5, 33]]) {
    const seed = rng.nextUint32();
    compareKernelPaths(
      () => {
        const x = randomTensor(new Rng(seed), shape, { scale: 4 });
        return [gelu(x), ...tf.grads((a: tf.Tensor) => gelu(a).sum())([x])];
      },
      { ...TOL, expectNative: ["SsegGelu", "SsegGeluGrad"], label: `gelu [${shape}]` },
    );
  }
  compareKernelPaths(() => gelu(tf.tensor([Number.NaN, -Infinity, Infinity, 0, -40, 40])), {
    ...TOL,
    expectNative: ["SsegGelu"],
    label: "gelu specials",
  });
});

test("fused LayerNorm and GELU leave no tensor behind a gradient step", () => {
  const x = tf.randomNormal([4, 6, 32]);
  const gamma = tf.variable(tf.ones([32]));
  const beta = tf.variable(tf.zeros([32]));
  const step = () => {
    const { value, grads } = tf.variableGrads(
      () =>
        gelu(layerNorm(x, gamma, beta, 1e-5))
          .square()
          .mean() as tf.Scalar,
    );
    tf.dispose([value, ...Object.values(grads)]);
  };
  step();
  const before = tf.memory().numTensors;
  for (let i = 0; i < 3; i++) step();
  assert.equal(tf.memory().numTensors, before);
  tf.dispose([x, gamma, beta]);
});
