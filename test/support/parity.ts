/**
 * Parity of the native kernel pack with tfjs's stock cpu kernels: run the same computation with native kernels
 * on and off, compare element by element, and check that the native kernels really ran.
 */
import assert from "node:assert/strict";
import { before, test } from "node:test";
import * as tf from "@tensorflow/tfjs";
import { initEngine } from "../../src/engine/backend.js";
import { installedKernels, kernelCalls, setNativeKernelsEnabled } from "../../src/engine/kernels/registry.js";
import { Rng } from "../../src/engine/rng.js";

export interface ParityOptions {
  atol: number;
  rtol: number;
  /** Kernels that must run natively at least once on the native path. */
  expectNative?: string[];
  /** Kernels that must hand at least one call to the stock kernel on the native path (unsupported cases). */
  expectFallback?: string[];
  /** Names the case in failure messages. */
  label?: string;
  /** Computes the stock path's expected outputs instead of `fn`, where the stock kernel is slow or wrong. */
  reference?: () => tf.Tensor | tf.Tensor[];
}

/** Which kernels a case must run natively, and which must fall back. */
export type PathExpectation = Pick<ParityOptions, "expectNative" | "expectFallback">;

function nativePackInstalled(): boolean {
  return installedKernels().length > 0;
}

/**
 * Initialise the engine for a parity test file and register one test that the family's kernels are installed;
 * without the pack it is skipped with a message, and every comparison runs stock against stock.
 */
export function setUpKernelParity(kernels: string[]): void {
  before(() => initEngine());
  test(`native kernels installed: ${kernels.join(", ")}`, (t) => {
    if (!nativePackInstalled()) {
      t.skip("native kernel pack not installed: parity tests compare the stock tfjs kernels with themselves");
      return;
    }
    assert.deepEqual(
      kernels.filter((name) => !installedKernels().includes(name)),
      [],
      "kernels missing from the pack",
    );
  });
}

/**
 * Run `fn` on the native and the stock kernels and assert the outputs agree within atol + rtol·|stock|.
 * `fn` runs once per path, so it must build the same inputs each time (from a fixed seed); with
 * `options.reference` the stock path runs that instead.
 */
export function compareKernelPaths(fn: () => tf.Tensor | tf.Tensor[], options: ParityOptions): void {
  const label = options.label ?? "output";
  const initial = callCounts();
  const native = runOnPath(fn, true, label);
  const afterNative = callCounts();
  let stock: tf.Tensor[] = [];
  try {
    stock = runOnPath(options.reference ?? fn, false, label);
    if (nativePackInstalled()) {
      for (const name of options.expectNative ?? [])
        assert.ok(grew(initial, afterNative, name, "native"), `${label}: ${name} did not run natively`);
      for (const name of options.expectFallback ?? [])
        assert.ok(
          grew(initial, afterNative, name, "fallback"),
          `${label}: ${name} did not fall back to tfjs`,
        );
      const stockRanNative = [...kernelCalls.keys()].filter((name) =>
        grew(afterNative, callCounts(), name, "native"),
      );
      assert.deepEqual(stockRanNative, [], `${label}: native kernels ran with native kernels switched off`);
    }
    assert.equal(native.length, stock.length, `${label}: number of outputs`);
    for (let i = 0; i < stock.length; i++) {
      assertSameTensor(native[i], stock[i], stock.length > 1 ? `${label} [${i}]` : label, options);
    }
  } finally {
    tf.dispose([...native, ...stock]);
  }
}

function runOnPath(fn: () => tf.Tensor | tf.Tensor[], native: boolean, label: string): tf.Tensor[] {
  setNativeKernelsEnabled(native);
  try {
    const out = tf.tidy(fn);
    return Array.isArray(out) ? out : [out];
  } catch (err) {
    // Name the case: a kernel that throws would otherwise leave only a stack inside tfjs.
    throw new Error(`${label} on the ${native ? "native" : "stock"} path: ${(err as Error).message}`, {
      cause: err,
    });
  } finally {
    setNativeKernelsEnabled(true);
  }
}

type CallCounts = Map<string, { native: number; fallback: number }>;

function callCounts(): CallCounts {
  return new Map([...kernelCalls].map(([name, counts]) => [name, { ...counts }]));
}

function grew(from: CallCounts, to: CallCounts, name: string, path: "native" | "fallback"): boolean {
  return (to.get(name)?.[path] ?? 0) > (from.get(name)?.[path] ?? 0);
}

const MISMATCHES_SHOWN = 4;

function assertSameTensor(actual: tf.Tensor, expected: tf.Tensor, where: string, tol: ParityOptions): void {
  assert.deepEqual(actual.shape, expected.shape, `${where}: shape`);
  assert.equal(actual.dtype, expected.dtype, `${where}: dtype`);
  const got = actual.dataSync();
  const want = expected.dataSync();
  const mismatches: string[] = [];
  for (let i = 0; i < want.length; i++)
    if (!agrees(Number(got[i]), Number(want[i]), tol))
      mismatches.push(`[${unravel(i, expected.shape)}] native ${got[i]}, stock ${want[i]}`);
  if (mismatches.length > 0)
    assert.fail(
      `${where}: ${mismatches.length} of ${want.length} elements of [${expected.shape}] differ ` +
        `(atol ${tol.atol}, rtol ${tol.rtol}): ${mismatches.slice(0, MISMATCHES_SHOWN).join("; ")}`,
    );
}

/** NaN only matches NaN and infinities only match themselves; finite values match within tolerance. */
function agrees(got: number, want: number, { atol, rtol }: ParityOptions): boolean {
  if (Number.isNaN(want) || Number.isNaN(got)) return Number.isNaN(want) && Number.isNaN(got);
  if (!Number.isFinite(want) || !Number.isFinite(got)) return got === want;
  return Math.abs(got - want) <= atol + rtol * Math.abs(want);
}

function unravel(index: number, shape: number[]): number[] {
  const coords = shape.map(() => 0);
  for (let d = shape.length - 1; d >= 0; d--) {
    coords[d] = index % shape[d];
    index = Math.floor(index / shape[d]);
  }
  return coords;
}

/** A generator seeded from a name (FNV-1a), so every test draws its own fixed stream. */
export function seededRng(name: string): Rng {
  let hash = 0x811c9dc5;
  for (let i = 0; i < name.length; i++) hash = Math.imul(hash ^ name.charCodeAt(i), 0x01000193) >>> 0;
  return new Rng(hash);
}

/** Values that kernels tend to get wrong: NaN, infinities, signed zeros, huge and tiny magnitudes. */
const SPECIAL_VALUES = [Number.NaN, Infinity, -Infinity, 0, -0, 1e30, -1e30, 1e-30, -1e-30];

export interface RandomTensorOptions {
  /** Values are mean + scale·N(0, 1) (defaults 0 and 1). */
  mean?: number;
  scale?: number;
  /** Fraction of elements replaced by a SPECIAL_VALUES entry. */
  special?: number;
  /** int32 tensors hold integers in [-9, 9]. */
  dtype?: "float32" | "int32";
}

export function randomTensor(rng: Rng, shape: number[], options: RandomTensorOptions = {}): tf.Tensor {
  const { mean = 0, scale = 1, special = 0, dtype = "float32" } = options;
  const size = shape.reduce((a, b) => a * b, 1);
  if (dtype === "int32")
    return tf.tensor(
      Int32Array.from({ length: size }, () => rng.int(19) - 9),
      shape,
      "int32",
    );
  const values = new Float32Array(size);
  for (let i = 0; i < size; i++)
    values[i] =
      rng.uniform() < special ? SPECIAL_VALUES[rng.int(SPECIAL_VALUES.length)] : mean + scale * rng.normal();
  return tf.tensor(values, shape, "float32");
}

/** A shape of `rank` dimensions, each in [1, maxDim]. */
export function randomShape(rng: Rng, rank: number, maxDim: number): number[] {
  return Array.from({ length: rank }, () => 1 + rng.int(maxDim));
}

/** Inclusive random integer in [low, high]. */
export function randomInt(rng: Rng, low: number, high: number): number {
  return low + rng.int(high - low + 1);
}

export function randomChoice<T>(rng: Rng, items: readonly T[]): T {
  return items[rng.int(items.length)];
}
