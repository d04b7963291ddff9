import assert from "node:assert/strict";
import { test } from "node:test";
import { init, Rng } from "../../src/engine/rng.js";

test("the same seed gives the same stream; different seeds differ", () => {
  const a = new Rng(42);
  const b = new Rng(42);
  const c = new Rng(43);
  const sa = Array.from({ length: 8 }, () => a.nextUint32());
  assert.deepEqual(
    sa,
    Array.from({ length: 8 }, () => b.nextUint32()),
  );
  assert.notDeepEqual(
    sa,
    Array.from({ length: 8 }, () => c.nextUint32()),
  );
});

test("uniform, normal and int have the right ranges and moments", () => {
  const rng = new Rng(1);
  const n = 20000;
  let sum = 0;
  let sumSq = 0;
  for (let i = 0; i < n; i++) {
    const u = rng.uniform();
    assert.ok(u >= 0 && u < 1);
    const z = rng.normal();
    sum += z;
    sumSq += z * z;
  }
  assert.ok(Math.abs(sum / n) < 0.03, `normal mean ${sum / n}`);
  assert.ok(Math.abs(sumSq / n - 1) < 0.04, `normal variance ${sumSq / n}`);
  const counts = new Array(5).fill(0);
  for (let i = 0; i < n; i++) counts[rng.int(5)]++;
  for (const c of counts) assert.ok(Math.abs(c / n - 0.2) < 0.02, `int(5) frequencies ${counts}`);
  assert.throws(() => rng.int(0), /positive integer for n but received 0/);
  assert.throws(() => new Rng(Number.NaN), /finite number for seed/);
});

test("shuffle is a seeded permutation", () => {
  const items = Array.from({ length: 50 }, (_, i) => i);
  const a = new Rng(3).shuffle([...items]);
  assert.deepEqual(a, new Rng(3).shuffle([...items]));
  assert.notDeepEqual(a, items);
  assert.deepEqual(
    [...a].sort((x, y) => x - y),
    items,
  );
});

test("initialisers: uniform bounds, truncated normal bounds, constant fills", () => {
  const rng = new Rng(9);
  const u = init.uniform(rng, 1000, -0.5, 0.25);
  assert.ok(u.every((v) => v >= -0.5 && v < 0.25));
  const t = init.truncNormal(rng, 1000, 1, -2, 2);
  assert.ok(t.every((v) => v >= -2 && v <= 2));
  assert.deepEqual([...init.constant(3, 0.5)], [0.5, 0.5, 0.5]);
});
