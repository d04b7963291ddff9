import assert from "node:assert/strict";
import { test } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { gelu, groupNorm, layerNorm, quickGelu, relu6 } from "../../../src/engine/kernels/norm.js";
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

setUpKernelParity([
  "SsegLayerNorm",
  "SsegLayerNormGrad",
  "SsegGroupNorm",
  "SsegGroupNormGrad",
  "SsegGelu",
  "SsegGeluGrad",
  "SsegQuickGelu",
  "SsegQuickGeluGrad",
  "SsegRelu6",
  "SsegRelu6Grad",
]);

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

test("GroupNorm, fused: forward and the gradients of x, γ and β equal the tfjs chain", () => {
  const rng = seededRng("group norm");
  for (const [b, h, w, c, groups] of [
    [1, 1, 1, 4, 2],
    [2, 5, 3, 8, 4],
    [3, 8, 8, 64, 16],
    [2, 4, 7, 32, 32],
    [1, 3, 3, 6, 1],
  ]) {
    const seed = rng.nextUint32();
    compareKernelPaths(
      () => {
        const caseRng = new Rng(seed);
        const x = randomTensor(caseRng, [b, h, w, c], { scale: 3, mean: 1 }) as tf.Tensor4D;
        const [gamma, beta] = [randomTensor(caseRng, [c]), randomTensor(caseRng, [c])];
        const cotangent = randomTensor(caseRng, [b, h, w, c]);
        const f = (a: tf.Tensor, g: tf.Tensor, be: tf.Tensor) =>
          groupNorm(a as tf.Tensor4D, g, be, groups, 1e-5)
            .mul(cotangent)
            .sum();
        return [groupNorm(x, gamma, beta, groups, 1e-5), ...tf.grads(f)([x, gamma, beta])];
      },
      {
        ...TOL,
        expectNative: ["SsegGroupNorm", "SsegGroupNormGrad"],
        label: `group norm [${[b, h, w, c]}] / ${groups}`,
      },
    );
  }
});

test("GELU, QuickGELU and ReLU6, fused: forward and gradient equal the tfjs chain, NaN and ±Inf included", () => {
  const rng = seededRng("gelu");
  for (const [name, f] of [
    ["SsegGelu", gelu],
    ["SsegQuickGelu", quickGelu],
    ["SsegRelu6", relu6],
  ] as const) {
    for (const shape of [[1], [7], [4097], [3, 5, 33]]) {
      const seed = rng.nextUint32();
      compareKernelPaths(
        () => {
          const x = randomTensor(new Rng(seed), shape, { scale: 4 });
          return [f(x), ...tf.grads((a: tf.Tensor) => f(a).sum())([x])];
        },
        { ...TOL, expectNative: [name, `${name}Grad`], label: `${name} [${shape}]` },
      );
    }
    compareKernelPaths(() => f(tf.tensor([Number.NaN, -Infinity, Infinity, 0, -40, 40])), {
      ...TOL,
      expectNative: [name],
      label: `${name} specials`,
    });
  }
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
