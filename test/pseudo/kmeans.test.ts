import assert from "node:assert/strict";
import { test } from "node:test";
import { Rng } from "../../src/engine/rng.js";
import { type KMeansOptions, type KMeansResult, kmeans, kmeansBatch } from "../../src/pseudo/kmeans.js";
import { Fixture } from "../support/fixtures.js";

interface SklearnCase {
  n: number;
  dim: number;
  k: number;
  tol: number;
  max_iter: number;
  normalize: boolean;
  inertia: number;
  n_iter: number;
  stopped_by: "strict" | "tol" | "max_iter";
}

const fixture = new Fixture("pseudo/kmeans.safetensors");
const config = fixture.config as {
  cases: Record<string, SklearnCase>;
  /** sklearn's best inertia over 10 k-means++ runs, per case. */
  kmeanspp: Record<string, number>;
};

function runCase(name: string, options: Partial<KMeansOptions> = {}): KMeansResult {
  const c = config.cases[name];
  return kmeans(fixture.data(`${name}.points`).data, c.n, c.dim, {
    k: c.k,
    tol: c.tol,
    maxIter: c.max_iter,
    normalize: c.normalize,
    init: fixture.data(`${name}.init`).data,
    ...options,
  });
}

function assertSameLabels(actual: Int32Array, expected: ArrayLike<number>, label: string): void {
  assert.equal(actual.length, expected.length, `${label}: number of labels`);
  const first = actual.findIndex((v, i) => v !== expected[i]);
  if (first >= 0)
    assert.fail(`${label}: point ${first} has label ${actual[first]}, expected ${expected[first]}`);
}

function assertCentersClose(actual: Float32Array, expected: Float32Array, tolerance: number, label: string) {
  assert.equal(actual.length, expected.length, `${label}: number of centre values`);
  let worst = 0;
  for (let i = 1; i < actual.length; i++)
    if (Math.abs(actual[i] - expected[i]) > Math.abs(actual[worst] - expected[worst])) worst = i;
  const diff = Math.abs(actual[worst] - expected[worst]);
  assert.ok(
    diff <= tolerance,
    `${label}: centre value ${worst} is ${actual[worst]}, expected ${expected[worst]}`,
  );
}

/** `images` images of n points around `clusters` random centres each, as one batch × n × dim array. */
function clusteredImages(
  seed: number,
  images: number,
  n: number,
  dim: number,
  clusters: number,
): Float32Array {
  const rng = new Rng(seed);
  const out = new Float32Array(images * n * dim);
  for (let b = 0; b < images; b++) {
    const centres = Array.from({ length: clusters * dim }, () => rng.normal());
    for (let i = 0; i < n; i++)
      for (let d = 0; d < dim; d++)
        out[(b * n + i) * dim + d] = centres[(i % clusters) * dim + d] + 0.4 * rng.normal();
  }
  return out;
}

for (const [name, c] of Object.entries(config.cases)) {
  test(`same labels, centres, inertia and iterations as sklearn from the same centres (${name}, stops by ${c.stopped_by})`, () => {
    const result = runCase(name);
    assertSameLabels(result.labels, fixture.data(`${name}.labels`).data, name);
    assertCentersClose(result.centers, fixture.data(`${name}.centers`).data, 1e-4, name);
    assert.equal(result.iterations, c.n_iter, `${name}: iterations`);
    assert.ok(
      Math.abs(result.inertia - c.inertia) <= 1e-6 * c.inertia,
      `${name}: inertia ${result.inertia}, sklearn ${c.inertia}`,
    );
  });
}

test("normalize clusters by direction: rescaling rows changes nothing", () => {
  const c = config.cases["cosine"];
  const points = fixture.data("cosine.points").data;
  const rescaled = points.map((v, i) => v * (1 + (Math.floor(i / c.dim) % 5)));
  const original = runCase("cosine");
  const result = kmeans(rescaled, c.n, c.dim, { k: c.k, init: fixture.data("cosine.init").data });
  assertSameLabels(result.labels, original.labels, "rescaled");
  assertCentersClose(result.centers, original.centers, 1e-6, "rescaled");
  const raw = kmeans(rescaled, c.n, c.dim, {
    k: c.k,
    init: fixture.data("cosine.init").data,
    normalize: false,
  });
  assert.ok(
    raw.labels.some((label, i) => label !== original.labels[i]),
    "without normalisation lengths matter",
  );
});

test("empty clusters are moved onto the farthest points, and every cluster ends up used", () => {
  const c = config.cases["empty"];
  const init = fixture.data("empty.init").data;
  const result = runCase("empty");
  assert.deepEqual(new Set(result.labels), new Set(Array.from({ length: c.k }, (_, j) => j)));
  for (const far of [3, 4]) {
    const moved = Math.hypot(
      result.centers[2 * far] - init[2 * far],
      result.centers[2 * far + 1] - init[2 * far + 1],
    );
    assert.ok(moved > 40, `centre ${far} moved only ${moved} from its far-away start`);
  }
});

test("a point halfway between two centres goes to the lower index, whichever side it is on", () => {
  const points = new Float32Array([-1, 0, 1, 0, 0, 0]);
  const options = { k: 2, normalize: false };
  const leftFirst = kmeans(points, 3, 2, { ...options, init: new Float32Array([-1, 0, 1, 0]) });
  assert.deepEqual(Array.from(leftFirst.labels), [0, 1, 0]);
  const rightFirst = kmeans(points, 3, 2, { ...options, init: new Float32Array([1, 0, -1, 0]) });
  assert.deepEqual(Array.from(rightFirst.labels), [1, 0, 0]);
});

test("a batch gives exactly the per-image results (image b seeded with seed + b)", () => {
  const [images, n, dim] = [3, 120, 16];
  const points = clusteredImages(1, images, n, dim, 5);
  const batch = kmeansBatch(points, images, n, dim, { k: 5, seed: 7 });
  for (let b = 0; b < images; b++)
    assert.deepEqual(
      batch[b],
      kmeans(points.subarray(b * n * dim, (b + 1) * n * dim), n, dim, { k: 5, seed: 7 + b }),
    );
  const init = new Float32Array(images * 5 * dim).map((_, i) => points[i]);
  const fromInit = kmeansBatch(points, images, n, dim, { k: 5, init });
  for (let b = 0; b < images; b++) {
    const image = points.subarray(b * n * dim, (b + 1) * n * dim);
    const own = init.subarray(b * 5 * dim, (b + 1) * 5 * dim);
    assert.deepEqual(fromInit[b], kmeans(image, n, dim, { k: 5, init: own }));
  }
});

test("k-means++ is deterministic for a seed and depends on it", () => {
  const [n, dim] = [200, 24];
  const points = clusteredImages(2, 1, n, dim, 8);
  const first = kmeans(points, n, dim, { k: 8, seed: 3 });
  assert.deepEqual(kmeans(points, n, dim, { k: 8, seed: 3 }), first);
  const others = [4, 5, 6].map((seed) => kmeans(points, n, dim, { k: 8, seed }));
  assert.ok(others.some((other) => other.labels.some((label, i) => label !== first.labels[i])));
});

for (const name of Object.keys(config.kmeanspp)) {
  test(`k-means++, best of 10 seeds, is within 1% of sklearn's best-of-10 inertia (${name})`, () => {
    const inertias = Array.from(
      { length: 10 },
      (_, seed) => runCase(name, { init: undefined, seed }).inertia,
    );
    const best = Math.min(...inertias);
    assert.ok(best <= 1.01 * config.kmeanspp[name], `best ${best}, sklearn's best ${config.kmeanspp[name]}`);
  });
}

test("bad input is refused with the argument named", () => {
  const points = new Float32Array(10);
  assert.throws(() => kmeans(points, 5, 2, { k: 6 }), /n ≥ k: cannot make k = 6 clusters of n = 5 points/);
  assert.throws(() => kmeans(points, 4, 2, { k: 2 }), /points to hold 4 × 2 = 8 values but it has 10/);
  assert.throws(() => kmeans(points, 5, 2, { k: 0 }), /k to be a positive integer but received 0/);
  assert.throws(() => kmeans(points, 5, 2, { k: 1.5 }), /k to be a positive integer but received 1.5/);
  assert.throws(() => kmeans(points, 5, 2, { k: 2, maxIter: 0 }), /maxIter to be a positive integer/);
  assert.throws(
    () => kmeans(points, 5, 2, { k: 2, tol: -1 }),
    /tol to be a finite number ≥ 0 but received -1/,
  );
  assert.throws(
    () => kmeans(points, 5, 2, { k: 2, init: new Float32Array(3) }),
    /init to hold 2 × 2 = 4 values/,
  );
  const withNaN = points.slice();
  withNaN[3] = Number.NaN;
  assert.throws(() => kmeans(withNaN, 5, 2, { k: 2 }), /points\[3\] \(row 1, column 1\) is NaN/);
  const init = new Float32Array([0, 0, Number.POSITIVE_INFINITY, 0]);
  assert.throws(() => kmeans(points, 5, 2, { k: 2, init }), /init\[2\] \(row 1, column 0\) is Infinity/);
  assert.throws(
    () => kmeansBatch(withNaN, 2, 5, 1, { k: 2 }),
    /points\[3\] \(image 0, row 3, column 0\) is NaN/,
  );
  assert.throws(
    () => kmeansBatch(points, 2, 5, 1, { k: 2, init: new Float32Array(2) }),
    /init to hold 2 × 2 × 1/,
  );
});
