import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import * as tf from "@tensorflow/tfjs";
import { installedKernels, setNativeKernelsEnabled } from "../../src/engine/kernels/registry.js";
import { parseSafetensors, toFloat32 } from "../../src/io/safetensors.js";
import type { Module, TensorData } from "../../src/nn/module.js";

/** Repo-root-relative path of a committed fixture (tests run from dist/test/…). */
export function fixturePath(relative: string): string {
  return new URL(`../../../test/fixtures/${relative}`, import.meta.url).pathname;
}

/** A PyTorch oracle fixture: named float32 tensors plus its JSON config. */
export class Fixture {
  readonly config: Record<string, unknown>;
  private readonly tensors: Map<string, TensorData>;

  constructor(readonly name: string) {
    const file = parseSafetensors(new Uint8Array(readFileSync(fixturePath(name))), name);
    this.config = JSON.parse(file.metadata["config"] ?? "{}");
    this.tensors = new Map([...file.tensors].map(([k, t]) => [k, { shape: t.shape, data: toFloat32(t) }]));
  }

  has(key: string): boolean {
    return this.tensors.has(key);
  }

  data(key: string): TensorData {
    const t = this.tensors.get(key);
    if (!t)
      throw new Error(`${this.name}: no tensor "${key}" (have: ${[...this.tensors.keys()].join(", ")})`);
    return t;
  }

  tensor(key: string): tf.Tensor {
    const t = this.data(key);
    return tf.tensor(t.data, [...t.shape]);
  }

  /** Tensors whose key starts with `prefix`, keyed by the rest (e.g. "state." → a state dict). */
  withPrefix(prefix: string): Map<string, TensorData> {
    const out = new Map<string, TensorData>();
    for (const [k, t] of this.tensors) if (k.startsWith(prefix)) out.set(k.slice(prefix.length), t);
    return out;
  }

  loadInto(module: Module): void {
    module.loadStateDict(this.withPrefix("state."));
  }
}

/** Assert |actual − expected| ≤ atol + rtol·|expected| everywhere; the message gives the worst element. */
export function assertClose(
  actual: tf.Tensor | TensorData,
  expected: TensorData,
  label: string,
  atol = 1e-5,
  rtol = 1e-4,
) {
  const shape = actual instanceof tf.Tensor ? actual.shape : [...actual.shape];
  const values = actual instanceof tf.Tensor ? actual.dataSync() : actual.data;
  assert.deepEqual(shape, [...expected.shape], `${label}: shape`);
  let worst = -1;
  let worstExcess = 0;
  for (let i = 0; i < values.length; i++) {
    const excess = Math.abs(values[i] - expected.data[i]) - (atol + rtol * Math.abs(expected.data[i]));
    if (!(excess <= 0) && (worst < 0 || excess > worstExcess || Number.isNaN(excess))) {
      worst = i;
      worstExcess = excess;
    }
  }
  if (worst >= 0) {
    assert.fail(`${label}: element ${worst} is ${values[worst]} but PyTorch gives ${expected.data[worst]}`);
  }
}

/**
 * Run `forward` on the fixture's inputs, check the output, then check the gradients of sum(output·cotangent)
 * w.r.t. the listed inputs and every parameter of `module` against PyTorch — once with the native kernels
 * (when the pack is installed) and once with tfjs's stock kernels.
 */
export function checkAgainstFixture(
  fixture: Fixture,
  forward: (inputs: Record<string, tf.Tensor>) => tf.Tensor,
  options: CheckOptions = {},
): void {
  onEveryKernelPath((path) => checkOnePath(fixture, forward, options, path));
}

/** Run `check` once with the native kernel pack (when installed) and once with tfjs's stock kernels. */
export function onEveryKernelPath(check: (path: string) => void): void {
  for (const native of installedKernels().length > 0 ? [true, false] : [false]) {
    setNativeKernelsEnabled(native);
    try {
      check(native ? "native" : "stock");
    } finally {
      setNativeKernelsEnabled(true);
    }
  }
}

/**
 * The oracle scripts' counter_uniform (tools/oracles/vit_fixtures.py, mobilenet_v2_fixtures.mjs):
 * u_i ∈ [-1, 1) from murmur3's fmix32 of (i + seed·φ), for weights too big to commit as values.
 */
export function counterUniform(seed: number, n: number): Float64Array {
  const out = new Float64Array(n);
  const start = Math.imul(seed, 0x9e3779b9) >>> 0;
  for (let i = 0; i < n; i++) {
    let x = (i + start) >>> 0;
    x ^= x >>> 16;
    x = Math.imul(x, 0x85ebca6b) >>> 0;
    x ^= x >>> 13;
    x = Math.imul(x, 0xc2b2ae35) >>> 0;
    x ^= x >>> 16;
    out[i] = ((x >>> 0) / 4294967296) * 2 - 1;
  }
  return out;
}

/** A weight manifest entry: the i-th key's values are offset + scale · counterUniform(i + 1). */
export type ManifestEntry = [name: string, shape: number[], offset: number, scale: number];

/** An oracle's weights, regenerated from the manifest of its state-dict keys. */
export function manifestStateDict(manifest: ManifestEntry[]): Map<string, TensorData> {
  return new Map(
    manifest.map(([name, shape, offset, scale], i) => {
      const u = counterUniform(
        i + 1,
        shape.reduce((a, b) => a * b, 1),
      );
      return [name, { shape, data: Float32Array.from(u, (v) => offset + scale * v) }];
    }),
  );
}

interface CheckOptions {
  module?: Module;
  inputs?: string[];
  gradInputs?: string[];
  atol?: number;
  gradAtol?: number;
}

function checkOnePath(
  fixture: Fixture,
  forward: (inputs: Record<string, tf.Tensor>) => tf.Tensor,
  options: CheckOptions,
  path: string,
): void {
  const inputNames = options.inputs ?? ["x"];
  const gradInputs = options.gradInputs ?? inputNames;
  tf.tidy(() => {
    const inputs: Record<string, tf.Tensor> = {};
    const inputVars: [string, tf.Variable][] = [];
    for (const name of inputNames) {
      const t = fixture.tensor(`input.${name}`);
      if (gradInputs.includes(name)) {
        const v = tf.variable(t, true);
        inputVars.push([`grad.input.${name}`, v]);
        inputs[name] = v;
      } else {
        inputs[name] = t;
      }
    }
    const params = (options.module?.namedParameters() ?? []).map(([n, p]): [string, tf.Variable] => [
      `grad.state.${n}`,
      p,
    ]);
    const all = [...inputVars, ...params];
    const cotangent = fixture.tensor("cotangent");
    let output: tf.Tensor | undefined;
    const { grads } = tf.variableGrads(
      () => {
        output = tf.keep(forward(inputs));
        return output.mul(cotangent).sum() as tf.Scalar;
      },
      all.map(([, v]) => v),
    );
    assertClose(output!, fixture.data("output"), `${fixture.name} output (${path})`, options.atol ?? 1e-5);
    for (const [key, v] of all) {
      assertClose(
        grads[v.name],
        fixture.data(key),
        `${fixture.name} ${key} (${path})`,
        options.gradAtol ?? 1e-4,
      );
    }
    output!.dispose();
    for (const [, v] of inputVars) v.dispose();
  });
}
