import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { AssignmentError, linearSumAssignment } from "../../src/train/linear-sum-assignment.js";
import { fixturePath } from "../support/fixtures.js";

interface LsaCase {
  name: string;
  rows: number;
  cols: number;
  /** Row-major; non-finite values as the strings "Infinity", "-Infinity", "NaN". */
  cost: (number | string)[];
  rowIndices?: number[];
  colIndices?: number[];
  total?: number;
  error?: string;
}

// Written by tools/oracles/lsa_fixtures.py with scipy.optimize.linear_sum_assignment.
const fixture = JSON.parse(readFileSync(fixturePath("train/lsa_cases.json"), "utf8")) as {
  scipy: string;
  cases: LsaCase[];
};

for (const c of fixture.cases) {
  test(`linearSumAssignment gives scipy ${fixture.scipy}'s indices: ${c.name}`, () => {
    const cost = Float64Array.from(c.cost, Number);
    if (c.error !== undefined) {
      // scipy: "cost matrix is infeasible" / "matrix contains invalid numeric entries".
      const expected = c.error.includes("infeasible") ? /cost matrix is infeasible/ : /invalid entry/;
      assert.throws(() => linearSumAssignment(cost, c.rows, c.cols), AssignmentError);
      assert.throws(() => linearSumAssignment(cost, c.rows, c.cols), expected);
      return;
    }
    const { rowIndices, colIndices } = linearSumAssignment(cost, c.rows, c.cols);
    assert.deepEqual([...rowIndices], c.rowIndices);
    assert.deepEqual([...colIndices], c.colIndices);
  });
}

test("linearSumAssignment names the offending entry and rejects inconsistent shapes", () => {
  assert.throws(() => linearSumAssignment([0, 1, Number.NaN, 2], 2, 2), /invalid entry NaN at \[1, 0\]/);
  assert.throws(
    () => linearSumAssignment([0, Number.NEGATIVE_INFINITY], 1, 2),
    /invalid entry -Infinity at \[0, 1\]/,
  );
  assert.throws(() => linearSumAssignment([1, 2, 3], 2, 2), /a 2×2 cost matrix has 4 entries, got 3/);
  assert.throws(() => linearSumAssignment([], -1, 0), /numRows must be a non-negative integer, got -1/);
  assert.throws(
    () => linearSumAssignment([0, Infinity, 1, Infinity, 2, Infinity], 3, 2),
    /infeasible.*while assigning column 1/,
  );
});

test("linearSumAssignment is fast on S-Seg's 64×8 matrices (1000 in well under a second)", () => {
  const cost = Float64Array.from({ length: 64 * 8 }, (_, i) => Math.sin(i * 12.9898) * 43758.5453 - 7);
  const start = performance.now();
  for (let k = 0; k < 1000; k++) linearSumAssignment(cost, 64, 8);
  assert.ok(performance.now() - start < 1000, `took ${performance.now() - start} ms`);
});
