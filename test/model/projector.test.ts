import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { before, test } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { initEngine } from "../../src/engine/backend.js";
import { tensorGrowth } from "../../src/engine/checks.js";
import { Rng } from "../../src/engine/rng.js";
import {
  LOGIT_SCALE_INIT,
  LogitScale,
  Projector,
  type ProjectorConfig,
  projectorPaper,
} from "../../src/model/projector.js";
import { assertClose, Fixture, fixturePath, onEveryKernelPath } from "../support/fixtures.js";

before(() => initEngine());

const fx = new Fixture("model/text_projector.safetensors");
const fxConfig = fx.config as unknown as ProjectorConfig & { cases: Record<string, { training: boolean }> };

for (const [name, { training }] of Object.entries(fxConfig.cases)) {
  test(`Projector matches GroupViT's ProjectMLP (${name}): output, gradients and running statistics`, () => {
    const projector = new Projector(fxConfig);
    const bn = projector.linearHidden.norm;
    const named = projector.namedParameters();
    onEveryKernelPath((path) => {
      fx.loadInto(projector); // each path starts from the stored statistics: a training forward moves them
      projector.train(training);
      tf.tidy(() => {
        const x = tf.variable(fx.tensor(`${name}.input.x`));
        let output: tf.Tensor | undefined;
        const { grads } = tf.variableGrads(() => {
          output = tf.keep(projector.forward(x));
          return output.mul(fx.tensor(`${name}.cotangent`)).sum() as tf.Scalar;
        }, [x, ...named.map(([, v]) => v)]);
        assertClose(output!, fx.data(`${name}.output`), `${name} output (${path})`);
        assertClose(grads[x.name], fx.data(`${name}.grad.input.x`), `${name} grad x (${path})`, 1e-4);
        for (const [key, v] of named) {
          assertClose(
            grads[v.name],
            fx.data(`${name}.grad.state.${key}`),
            `${name} grad ${key} (${path})`,
            1e-4,
          );
        }
        x.dispose();
      });
      if (training) {
        // variableGrads ran the forward once, so the statistics moved by exactly one step
        assertClose(bn.runningMean, fx.data(`${name}.after.running_mean`), `${name} running_mean (${path})`);
        assertClose(bn.runningVar, fx.data(`${name}.after.running_var`), `${name} running_var (${path})`);
      }
    });
    projector.dispose();
  });
}

test("GroupViT's state-dict names and Conv1d weight layouts [out, in, 1]", () => {
  const projector = new Projector({ inDim: 4, hiddenDim: 8, outDim: 3 });
  const shapes = Object.fromEntries([...projector.stateDict()].map(([name, v]) => [name, v.shape]));
  assert.deepEqual(shapes, {
    "linear_hidden.0.weight": [8, 4, 1],
    "linear_hidden.0.bias": [8],
    "linear_hidden.1.weight": [8],
    "linear_hidden.1.bias": [8],
    "linear_hidden.1.running_mean": [8],
    "linear_hidden.1.running_var": [8],
    "linear_out.weight": [3, 8, 1],
    "linear_out.bias": [3],
  });
  projector.dispose();
});

test("projectorPaper: parameter count equals GroupViT's 256 → 4096 → 256 ProjectMLP", () => {
  const presets = JSON.parse(readFileSync(fixturePath("model/text_presets.json"), "utf8")) as Record<
    string,
    number
  >;
  const projector = new Projector(projectorPaper, { rng: new Rng(1) });
  assert.equal(projector.parameterCount(), presets["projectorPaper"]);
  projector.dispose();
});

test("Projector refuses inputs of the wrong width or rank", () => {
  const projector = new Projector({ inDim: 4, hiddenDim: 8, outDim: 3 });
  tf.tidy(() => {
    assert.throws(
      () => projector.forward(tf.zeros([2, 5])),
      /expected \[B, 4\] or \[B, L, 4\] but received \[2,5\]/,
    );
    assert.throws(() => projector.forward(tf.zeros([4])), /but received \[4\]/);
    assert.throws(() => projector.forward(tf.zeros([1, 4])), /more than 1 value per channel/);
  });
  projector.dispose();
});

test("LogitScale starts at ln(1/0.07), scales by exp θ and stops at 100 with no gradient above it", () => {
  const logit = new LogitScale();
  assert.deepEqual(
    logit.namedParameters().map(([name, v]) => [name, v.shape]),
    [["logit_scale", []]],
  );
  assert.ok(Math.abs(logit.theta.dataSync()[0] - LOGIT_SCALE_INIT) < 1e-6);
  tf.tidy(() => {
    const { value, grads } = tf.variableGrads(() => logit.scale(), [logit.theta]);
    assert.ok(Math.abs(value.dataSync()[0] - 1 / 0.07) < 1e-4);
    assert.ok(Math.abs(grads[logit.theta.name].dataSync()[0] - 1 / 0.07) < 1e-4, "d exp θ / dθ = exp θ");
  });
  tf.tidy(() => logit.theta.assign(tf.scalar(Math.log(150))));
  tf.tidy(() => {
    const { value, grads } = tf.variableGrads(() => logit.scale(), [logit.theta]);
    assert.equal(value.dataSync()[0], 100);
    assert.equal(grads[logit.theta.name].dataSync()[0], 0);
  });
  logit.dispose();
});

test("a training-mode projection leaks no tensors", () => {
  const projector = new Projector({ inDim: 4, hiddenDim: 8, outDim: 3 });
  const x = tf.randomNormal([5, 4]);
  assert.deepEqual(
    tensorGrowth(() => projector.forward(x).dispose()),
    { tensors: 0, bytes: 0 },
  );
  x.dispose();
  projector.dispose();
});
