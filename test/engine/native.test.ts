import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { before, test } from "node:test";
import { initEngine } from "../../src/engine/backend.js";
import { cpuVariant, loadNativePack, type NativePack } from "../../src/engine/native.js";

before(() => initEngine());

const AVX512 = "flags\t\t: fpu sse2 avx avx2 fma bmi2 avx512f avx512dq avx512bw avx512vl\n";
const AVX2 = "flags\t\t: fpu sse2 avx avx2 fma bmi2\n";

test("cpuVariant picks the AVX-512 build, the AVX2 build, or none", () => {
  assert.equal(cpuVariant(AVX512), "x86-64-v4");
  assert.equal(cpuVariant(AVX2), "x86-64-v3");
  assert.equal(cpuVariant("flags\t\t: fpu sse2 avx\n"), null);
  assert.equal(cpuVariant(""), null);
});

test("SSEG_NATIVE=0 disables the pack with a reason", () => {
  const loaded = loadNativePack({ SSEG_NATIVE: "0" });
  assert.equal(loaded.pack, null);
  assert.match((loaded as { reason: string }).reason, /disabled by SSEG_NATIVE=0/);
});

test("both shipped prebuilt variants load and multiply correctly on this machine", (t) => {
  const variants =
    cpuVariant() === "x86-64-v4" ? ["x86-64-v4", "x86-64-v3"] : cpuVariant() ? ["x86-64-v3"] : [];
  if (variants.length === 0) return t.skip("this CPU has no AVX2+FMA");
  const require = createRequire(import.meta.url);
  for (const variant of variants) {
    const pack = require(`../../../native/prebuilt/linux-x64/sseg-native-${variant}.node`) as NativePack;
    const a = Float32Array.from([1, 2, 3, 4, 5, 6]); // (2, 3)
    const b = Float32Array.from([1, 0, 0, 1, 1, 1]); // (3, 2)
    const c = new Float32Array(4);
    pack.gemm(a, b, c, Int32Array.of(0), Int32Array.of(0), 2, 2, 3, false, false, null, 0, 0);
    assert.deepEqual([...c], [4, 5, 10, 11], variant);
  }
});

test("the addon refuses calls whose arrays do not match the sizes instead of reading out of bounds", () => {
  const loaded = loadNativePack({});
  if (!loaded.pack) return;
  const { pack } = loaded;
  const small = new Float32Array(4);
  assert.throws(
    () =>
      pack.gemm(
        small,
        small,
        new Float32Array(4),
        Int32Array.of(0),
        Int32Array.of(0),
        2,
        2,
        3,
        false,
        false,
        null,
        0,
        0,
      ),
    /sseg native gemm: A offset out of range/,
  );
  assert.throws(
    () => pack.binary(0, small, Int32Array.of(2), small, Int32Array.of(1), small, Int32Array.of(4)),
    /sseg native binary: A strides run past its end/,
  );
  assert.throws(
    () => pack.transpose(small, small, Int32Array.of(2, 2), Int32Array.of(0, 0)),
    /perm is not a permutation/,
  );
  assert.throws(() => pack.reduce(0, small, small, 1, 4, 1), /lengths do not match outer·reduced·inner/);
  assert.throws(() => pack.softmax(small, new Float32Array(3), 2, 2), /lengths do not match rows·cols/);
  assert.throws(() => pack.conv2d(small, small, small, new Int32Array(15)), /geometry entry out of range/);
  assert.throws(() => pack.unary(99, small, small, 0), /unknown unary op/);
  assert.throws(
    () => pack.gather(small, Int32Array.of(0, 4), new Float32Array(2), 1, 1, 4, 1),
    /gather: index out of range/,
  );
  assert.throws(
    () => pack.unsortedSegmentSum(small, Int32Array.of(0, 1), small, 3, 2),
    /unsortedSegmentSum: output length is not numSegments·inner/,
  );
});

test("segment sums give the same bits on one thread as on all of them", (t) => {
  const loaded = loadNativePack({});
  if (!loaded.pack) return t.skip("no native pack on this machine");
  const { pack } = loaded;
  const threads = pack.numThreads();
  if (threads === 1) return t.skip("one thread only");
  // Many segments split by segment ranges; a few wide ones by column blocks.
  for (const [rows, inner, numSegments] of [
    [5000, 16, 3000],
    [200, 1000, 4],
  ]) {
    const x = Float32Array.from({ length: rows * inner }, (_, i) => Math.sin(i * 12.9898) * 3);
    const ids = Int32Array.from({ length: rows }, (_, r) => ((r * 7919) % (numSegments + 2)) - 1);
    const sum = () => {
      const out = new Float32Array(numSegments * inner);
      pack.unsortedSegmentSum(x, ids, out, numSegments, inner);
      return out;
    };
    const threaded = sum();
    pack.setNumThreads(1);
    try {
      assert.deepEqual(sum(), threaded, `${rows} rows of ${inner} into ${numSegments} segments`);
    } finally {
      pack.setNumThreads(threads);
    }
  }
});

test("unary math, softmax and reductions give the same bits whatever the buffers' alignment", (t) => {
  const loaded = loadNativePack({});
  if (!loaded.pack) return t.skip("no native pack on this machine");
  const { pack } = loaded;
  const n = 1000;
  const source = Float32Array.from({ length: n }, (_, i) => Math.sin(i * 12.9898) * 3);
  /** `values` copied to a buffer starting `shift` floats past a fresh allocation, and an output likewise. */
  const shifted = (values: Float32Array, shift: number) => {
    const backing = new Float32Array(values.length + 16);
    backing.set(values, shift);
    return backing.subarray(shift, shift + values.length);
  };
  const runs = (compute: (shift: number) => Float32Array) => {
    const reference = compute(0);
    for (let shift = 1; shift < 16; shift++) assert.deepEqual(compute(shift), reference, `shift ${shift}`);
  };
  for (const op of [0, 1, 2, 3, 4]) {
    runs((shift) => {
      const out = shifted(new Float32Array(n), (shift * 7) % 16);
      pack.unary(op, shifted(source, shift).map(Math.abs), out, 0);
      return Float32Array.from(out);
    });
  }
  runs((shift) => {
    const out = shifted(new Float32Array(n), (shift * 5) % 16);
    pack.softmax(shifted(source, shift), out, 8, 125);
    return Float32Array.from(out);
  });
  runs((shift) => {
    const out = shifted(new Float32Array(8), (shift * 3) % 16);
    pack.reduce(0, shifted(source, shift), out, 8, 125, 1);
    return Float32Array.from(out);
  });
});
