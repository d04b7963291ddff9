import assert from "node:assert/strict";
import { before, test } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { initEngine } from "../../src/engine/backend.js";
import { tensorGrowth } from "../../src/engine/checks.js";
import { kernelCalls, setNativeKernelsEnabled } from "../../src/engine/kernels/index.js";
import { init, Rng } from "../../src/engine/rng.js";
import { LogitScale, Projector } from "../../src/model/projector.js";
import { TextTransformer, textTransformerPaper } from "../../src/model/text-transformer.js";
import {
  AdamW,
  type CosineSchedule,
  cosineWithWarmup,
  type ParamGroup,
  weightDecayGroups,
} from "../../src/train/optimizer.js";
import { assertClose, Fixture, onEveryKernelPath } from "../support/fixtures.js";

before(() => initEngine());

const fx = new Fixture("train/adamw.safetensors");
const fxConfig = fx.config as {
  betas: [number, number];
  eps: number;
  weightDecay: number;
  steps: number;
  stepSchedule: CosineSchedule;
  groups: { decay: string[]; no_decay: string[] };
  schedules: { schedule: CosineSchedule; steps: number[]; lr: number[] }[];
};
const names = [...fxConfig.groups.decay, ...fxConfig.groups.no_decay];

/** The fixture's four parameters at their initial values, grouped by weightDecayGroups. */
function fixtureParams(): { params: [string, tf.Variable][]; groups: ParamGroup[] } {
  const params = names.map((name): [string, tf.Variable] => [name, tf.variable(fx.tensor(`init.${name}`))]);
  return { params, groups: weightDecayGroups(params, fxConfig.weightDecay) };
}

function fixtureOptimizer(groups: ParamGroup[]): AdamW {
  return new AdamW(groups, { learningRate: 0, betas: fxConfig.betas, eps: fxConfig.eps });
}

/** Applies the fixture's gradients of `step` at that step's scheduled learning rate. */
function applyFixtureStep(optimizer: AdamW, params: [string, tf.Variable][], step: number): void {
  optimizer.learningRate = cosineWithWarmup(step, fxConfig.stepSchedule);
  tf.tidy(() => {
    const grads: tf.NamedTensorMap = {};
    for (const [name, v] of params) grads[v.name] = fx.tensor(`step${step}.grad.${name}`);
    optimizer.applyGradients(grads);
  });
}

test("weightDecayGroups splits the fixture's parameters as the torch script's groups", () => {
  const { params, groups } = fixtureParams();
  assert.deepEqual(
    groups.map((g) => [g.name, g.weightDecay, g.params.map(([n]) => n)]),
    [
      ["decay", fxConfig.weightDecay, fxConfig.groups.decay],
      ["no_decay", 0, fxConfig.groups.no_decay],
    ],
  );
  for (const [, v] of params) v.dispose();
});

test("AdamW matches torch.optim.AdamW over 5 steps with a decay and a no-decay group", () => {
  onEveryKernelPath((path) => {
    const { params, groups } = fixtureParams();
    const optimizer = fixtureOptimizer(groups);
    for (let step = 0; step < fxConfig.steps; step++) {
      applyFixtureStep(optimizer, params, step);
      for (const [name, v] of params) {
        assertClose(v, fx.data(`step${step}.param.${name}`), `step ${step} ${name} (${path})`, 1e-6, 1e-5);
      }
    }
    const state = optimizer.exportState();
    for (const name of names) {
      const { step, expAvg, expAvgSq } = state.params[name];
      assert.equal(step, fx.data(`state.${name}.step`).data[0], `${name} step`);
      assertClose(
        { shape: [...fx.data(`state.${name}.exp_avg`).shape], data: expAvg },
        fx.data(`state.${name}.exp_avg`),
        `${name} exp_avg (${path})`,
        1e-7,
      );
      assertClose(
        { shape: [...fx.data(`state.${name}.exp_avg_sq`).shape], data: expAvgSq },
        fx.data(`state.${name}.exp_avg_sq`),
        `${name} exp_avg_sq (${path})`,
        1e-7,
      );
    }
    optimizer.dispose();
    for (const [, v] of params) v.dispose();
  });
});

test("exported state imported into a fresh optimiser continues exactly like the uninterrupted run", () => {
  const uninterrupted = fixtureParams();
  const full = fixtureOptimizer(uninterrupted.groups);
  for (let step = 0; step < fxConfig.steps; step++) applyFixtureStep(full, uninterrupted.params, step);

  const first = fixtureParams();
  const interrupted = fixtureOptimizer(first.groups);
  for (let step = 0; step < 2; step++) applyFixtureStep(interrupted, first.params, step);
  const saved = interrupted.exportState();
  const savedValues = new Map(first.params.map(([name, v]) => [name, Float32Array.from(v.dataSync())]));
  interrupted.dispose();
  for (const [, v] of first.params) v.dispose();

  const resumed = fixtureParams();
  for (const [name, v] of resumed.params) {
    tf.tidy(() => v.assign(tf.tensor(savedValues.get(name)!, v.shape)));
  }
  const after = fixtureOptimizer(resumed.groups);
  after.importState(saved);
  for (let step = 2; step < fxConfig.steps; step++) applyFixtureStep(after, resumed.params, step);
  resumed.params.forEach(([name, v], i) => {
    assert.deepEqual(v.dataSync(), uninterrupted.params[i][1].dataSync(), `${name} after resuming`);
  });
  assert.deepEqual(after.exportState(), full.exportState());
  for (const optimizer of [full, after]) optimizer.dispose();
  for (const [, v] of [...uninterrupted.params, ...resumed.params]) v.dispose();
});

test("importState refuses unknown parameters and wrong sizes, naming them", () => {
  const { params, groups } = fixtureParams();
  const optimizer = fixtureOptimizer(groups);
  const entry = { step: 1, expAvg: new Float32Array(12), expAvgSq: new Float32Array(12) };
  assert.throws(
    () => optimizer.importState({ params: { "no.such.weight": entry, "proj.bias": entry } }),
    /unexpected parameter "no\.such\.weight"[\s\S]*parameter "proj\.bias": state has 12 values, the parameter 4/,
  );
  assert.throws(
    () => optimizer.importState({ params: { "proj.weight": { ...entry, step: 0 } } }),
    /step 0 is not a positive integer/,
  );
  optimizer.dispose();
  for (const [, v] of params) v.dispose();
});

test("weightDecayGroups: no decay for norms, biases, embedding and position tables and the logit scale", () => {
  const text = new TextTransformer({
    ...textTransformerPaper,
    layers: 1,
    width: 64,
    heads: 1,
    vocabSize: 10,
  });
  const projector = new Projector({ inDim: 64, hiddenDim: 16, outDim: 8 });
  const logit = new LogitScale();
  const extra = (name: string, shape: number[]): [string, tf.Variable] => [
    name,
    tf.variable(tf.zeros(shape)),
  ];
  const swinLike = [
    extra("backbone.patch_embed.proj.weight", [96, 3, 4, 4]),
    extra("backbone.absolute_pos_embed", [1, 3136, 96]),
    extra("backbone.layers.0.blocks.0.attn.relative_position_bias_table", [169, 3]),
    extra("backbone.layers.0.blocks.0.attn.qkv.weight", [288, 96]),
    extra("predictor.query_embed.weight", [64, 256]),
    extra("predictor.mask_embed.layers.0.weight", [256, 256]),
  ];
  const named = [
    ...text.namedParameters("text_encoder."),
    ...projector.namedParameters("text_projector."),
    ...logit.namedParameters(),
    ...swinLike,
  ];
  const [decay, noDecay] = weightDecayGroups(named, 0.05);
  assert.equal(decay.weightDecay, 0.05);
  assert.equal(noDecay.weightDecay, 0);
  assert.deepEqual(decay.params.map(([n]) => n).sort(), [
    "backbone.layers.0.blocks.0.attn.qkv.weight",
    "backbone.patch_embed.proj.weight",
    "predictor.mask_embed.layers.0.weight",
    "text_encoder.transformer.resblocks.0.attn.in_proj_weight",
    "text_encoder.transformer.resblocks.0.attn.out_proj.weight",
    "text_encoder.transformer.resblocks.0.mlp.c_fc.weight",
    "text_encoder.transformer.resblocks.0.mlp.c_proj.weight",
    "text_projector.linear_hidden.0.weight",
    "text_projector.linear_out.weight",
  ]);
  assert.equal(decay.params.length + noDecay.params.length, named.length);
  for (const name of [
    "text_encoder.token_embedding.weight",
    "text_encoder.positional_embedding",
    "text_encoder.ln_final.weight",
    "text_encoder.transformer.resblocks.0.attn.in_proj_bias",
    "text_projector.linear_hidden.1.weight",
    "logit_scale",
    "backbone.absolute_pos_embed",
    "backbone.layers.0.blocks.0.attn.relative_position_bias_table",
    "predictor.query_embed.weight",
  ]) {
    assert.ok(
      noDecay.params.some(([n]) => n === name),
      `${name} is in the no-decay group`,
    );
  }
  for (const m of [text, projector, logit]) m.dispose();
  for (const [, v] of swinLike) v.dispose();
});

test("weightDecayGroups' lrScales: a prefix's own group pair, which AdamW updates at that fraction of the rate", () => {
  const make = (): [string, tf.Variable][] => [
    ["backbone.trunk.stem.conv.weight", tf.variable(tf.fill([4, 3], 0.5))],
    ["backbone.trunk.stem.conv.bias", tf.variable(tf.fill([4], 0.5))],
    ["predictor.proj.weight", tf.variable(tf.fill([4, 3], 0.5))],
  ];
  const named = make();
  const groups = weightDecayGroups(named, 0.05, { "backbone.": 0.5 });
  assert.deepEqual(
    groups.map((g) => [g.name, g.weightDecay, g.lrScale, g.params.map(([n]) => n)]),
    [
      ["decay", 0.05, 1, ["predictor.proj.weight"]],
      ["no_decay", 0, 1, []],
      ["backbone.decay", 0.05, 0.5, ["backbone.trunk.stem.conv.weight"]],
      ["backbone.no_decay", 0, 0.5, ["backbone.trunk.stem.conv.bias"]],
    ],
  );
  // the scaled group's update equals an unscaled optimiser's at lr × 0.5
  const plain = make();
  const scaled = new AdamW(groups, { learningRate: 1e-2 });
  const reference = new AdamW(weightDecayGroups(plain, 0.05), { learningRate: 5e-3 });
  const gradients = (params: [string, tf.Variable][]) =>
    Object.fromEntries(params.map(([, v], i) => [v.name, tf.fill(v.shape, 0.1 * (i + 1))]));
  for (let step = 0; step < 3; step++) {
    const [g1, g2] = [gradients(named), gradients(plain)];
    scaled.applyGradients(g1);
    reference.applyGradients(g2);
    tf.dispose([...Object.values(g1), ...Object.values(g2)]);
  }
  for (let i = 0; i < 2; i++)
    assert.deepEqual(named[i][1].dataSync(), plain[i][1].dataSync(), `${named[i][0]} at 0.5 × 1e-2`);
  assert.notDeepEqual(named[2][1].dataSync(), plain[2][1].dataSync(), "the unscaled group moves at 1e-2");
  for (const optimizer of [scaled, reference]) optimizer.dispose();
  for (const [, v] of [...named, ...plain]) v.dispose();
});

test("AdamW refuses a parameter listed twice and a gradient for a parameter in no group", () => {
  const a = tf.variable(tf.zeros([2, 2]));
  const stray = tf.variable(tf.zeros([2]));
  const group = (params: [string, tf.Variable][]): ParamGroup => ({ name: "g", weightDecay: 0, params });
  assert.throws(
    () => new AdamW([group([["a", a]]), group([["a2", a]])], { learningRate: 1 }),
    /"a2" appears in more than one place/,
  );
  const optimizer = new AdamW([group([["a", a]])], { learningRate: 1 });
  assert.throws(() => tf.tidy(() => optimizer.applyGradients({ [stray.name]: tf.ones([2]) })), /in no group/);
  optimizer.dispose();
  a.dispose();
  stray.dispose();
});

test("cosineWithWarmup reproduces timm's CosineLRScheduler as GroupViT configures it", () => {
  for (const { schedule, steps, lr } of fxConfig.schedules) {
    steps.forEach((step, i) => {
      const actual = cosineWithWarmup(step, schedule);
      assert.ok(
        Math.abs(actual - lr[i]) <= 1e-15 + 1e-12 * lr[i],
        `step ${step}: ${actual} vs timm ${lr[i]}`,
      );
    });
  }
  assert.throws(
    () => cosineWithWarmup(-1, { warmupSteps: 1, totalSteps: 10, baseLr: 1, minLr: 0 }),
    /need step ≥ 0, warmupSteps ≥ 0, totalSteps > 0; got step -1/,
  );
});

/** One training step as the trainer takes it: gradients, then AdamW.step (guard, clipping, update). */
function trainStep(
  optimizer: AdamW,
  named: [string, tf.Variable][],
  loss: () => tf.Scalar,
  clipGradNorm?: number,
) {
  const { value, grads } = tf.variableGrads(
    loss,
    named.map(([, v]) => v),
  );
  const result = optimizer.step(grads, { clipGradNorm });
  tf.dispose([value, ...Object.values(grads)]);
  return result;
}

test("AdamW.step updates in place and leaks no tensors", () => {
  const projector = new Projector({ inDim: 8, hiddenDim: 16, outDim: 4 }, { rng: new Rng(2) });
  const logit = new LogitScale();
  const named = [...projector.namedParameters(), ...logit.namedParameters()];
  const optimizer = new AdamW(weightDecayGroups(named, 0.05), { learningRate: 1e-3 });
  const x = tf.randomNormal([6, 8], 0, 1, "float32", 1);
  const loss = () => projector.forward(x).square().mean().mul(logit.scale()) as tf.Scalar;
  const initialWeight = projector.linearOut.weight.dataSync().slice();
  const growth = tensorGrowth(() => {
    const result = trainStep(optimizer, named, loss, 5);
    assert.equal(result.skipped, false);
  });
  assert.deepEqual(
    growth,
    { tensors: 0, bytes: 0 },
    "the first step creates the moments; later steps add nothing",
  );
  assert.notDeepEqual(projector.linearOut.weight.dataSync(), initialWeight);
  assert.equal(optimizer.exportState().params["logit_scale"].step, 4);
  optimizer.dispose();
  x.dispose();
  projector.dispose();
  logit.dispose();
});

test("AdamW.step skips a non-finite gradient, naming the parameters, and changes nothing", () => {
  const a = tf.variable(tf.tensor1d([1, 2]));
  const b = tf.variable(tf.tensor1d([0, 0]));
  const named: [string, tf.Variable][] = [
    ["a", a],
    ["b.bias", b],
  ];
  const optimizer = new AdamW(weightDecayGroups(named), { learningRate: 0.1 });
  const result = trainStep(optimizer, named, () => a.sum().add(tf.sqrt(b.sub(b)).sum()) as tf.Scalar); // d√0 = ∞
  assert.equal(result.skipped, true);
  assert.deepEqual(result.nonFinite, ["b.bias"]);
  assert.deepEqual([...a.dataSync()], [1, 2]);
  assert.deepEqual(optimizer.exportState(), { params: {} }, "no moments, no step counted");
  optimizer.dispose();
  tf.dispose([a, b]);
});

test("AdamW.step clips the global gradient norm as torch's clip_grad_norm_", () => {
  const w = tf.variable(tf.tensor1d([0, 0]));
  const clipped = new AdamW(weightDecayGroups([["w", w]], 0), { learningRate: 0.1 });
  const r = trainStep(clipped, [["w", w]], () => w.mul(tf.tensor1d([300, 400])).sum() as tf.Scalar, 1);
  assert.ok(Math.abs(r.gradNorm - 500) < 1e-3);
  const [m1, m2] = [...clipped.exportState().params.w.expAvg];
  // AdamW's first moment after one step is (1 − β₁)·g: g scaled by 1 / (500 + 1e-6)
  assert.ok(
    Math.abs(m1 - 0.1 * (300 / 500)) < 1e-6 && Math.abs(m2 - 0.1 * (400 / 500)) < 1e-6,
    `${m1}, ${m2}`,
  );
  clipped.dispose();
  w.dispose();
});

test("the native and the JavaScript update give the same bits, clipped and unclipped, in place and written back", () => {
  const run = (native: boolean) => {
    setNativeKernelsEnabled(native);
    try {
      const rng = new Rng(5);
      // made in a tidy, so each variable owns its buffer and the cpu backend updates it in place
      const w = tf.tidy(() => tf.variable(tf.tensor(init.normal(rng, 70_000, 1), [700, 100])));
      const b = tf.tidy(() => tf.variable(tf.tensor(init.normal(rng, 100, 1), [100])));
      const named: [string, tf.Variable][] = [
        ["layer.weight", w],
        ["layer.bias", b],
      ];
      const optimizer = new AdamW(weightDecayGroups(named, 0.05), { learningRate: 3e-3 });
      const norms: number[] = [];
      for (let step = 0; step < 3; step++) {
        const grads = tf.tidy(() => ({
          [w.name]: tf.tensor(init.normal(rng, 70_000, step + 1), [700, 100]),
          [b.name]: tf.tensor(init.normal(rng, 100, 1), [100]),
        }));
        norms.push(optimizer.step(grads, { clipGradNorm: step === 1 ? 1e9 : 10 }).gradNorm);
        tf.dispose(Object.values(grads));
      }
      const out = { norms, w: w.dataSync().slice(), b: b.dataSync().slice(), state: optimizer.exportState() };
      tf.dispose([w, b]);
      return out;
    } finally {
      setNativeKernelsEnabled(true);
    }
  };
  const stock = run(false);
  const calls = kernelCalls.get("AdamW");
  const before = calls ? { ...calls } : undefined;
  const native = run(true);
  if (calls && before)
    assert.equal(calls.native - before.native, 6, "the native kernel updated both parameters in place");
  assert.deepEqual(native.norms, stock.norms);
  assert.ok(
    stock.w.every((x, i) => Object.is(x, native.w[i])),
    "weights bit for bit",
  );
  assert.ok(
    stock.b.every((x, i) => Object.is(x, native.b[i])),
    "biases bit for bit",
  );
  assert.deepEqual(native.state, stock.state);
});
