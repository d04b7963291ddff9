/**
 * Rectangular linear sum assignment with exactly scipy.optimize.linear_sum_assignment's results (scipy 1.10,
 * unchanged since): the same shortest-augmenting-path algorithm in the same float64 arithmetic, so even tied
 * costs give scipy's indices. Ported from scipy/optimize/rectangular_lsap/rectangular_lsap.cpp (BSD-3-Clause,
 * PM Larsen), which follows DF Crouse, "On implementing 2D rectangular assignment algorithms", IEEE TAES
 * 52(4), 2016, pp. 1685–1686.
 */

/** Matched pairs: cost[rowIndices[k], colIndices[k]], rows ascending, min(rows, cols) of them. */
export interface Assignment {
  rowIndices: Int32Array;
  colIndices: Int32Array;
}

export class AssignmentError extends Error {
  override name = "AssignmentError";
}

/**
 * Minimum-cost assignment of the rows of a `numRows`×`numCols` row-major cost matrix to its columns.
 * +Infinity forbids a pair; NaN and −Infinity are invalid, and so is a matrix with no complete finite-cost
 * assignment.
 */
export function linearSumAssignment(cost: ArrayLike<number>, numRows: number, numCols: number): Assignment {
  for (const [name, n] of [
    ["numRows", numRows],
    ["numCols", numCols],
  ] as const) {
    if (!Number.isInteger(n) || n < 0)
      throw new AssignmentError(`${name} must be a non-negative integer, got ${n}`);
  }
  if (cost.length !== numRows * numCols)
    throw new AssignmentError(
      `a ${numRows}×${numCols} cost matrix has ${numRows * numCols} entries, got ${cost.length}`,
    );
  if (numRows === 0 || numCols === 0) return { rowIndices: new Int32Array(0), colIndices: new Int32Array(0) };

  // The algorithm assigns every row, so a tall matrix is solved transposed.
  const transpose = numCols < numRows;
  const nr = transpose ? numCols : numRows;
  const nc = transpose ? numRows : numCols;
  const c = new Float64Array(nr * nc);
  for (let i = 0; i < numRows; i++) {
    for (let j = 0; j < numCols; j++) {
      const value = cost[i * numCols + j];
      if (Number.isNaN(value) || value === Number.NEGATIVE_INFINITY)
        throw new AssignmentError(`cost matrix contains an invalid entry ${value} at [${i}, ${j}]`);
      c[transpose ? j * nc + i : i * nc + j] = value;
    }
  }

  const u = new Float64Array(nr);
  const v = new Float64Array(nc);
  const shortestPathCosts = new Float64Array(nc);
  const path = new Int32Array(nc).fill(-1);
  const col4row = new Int32Array(nr).fill(-1);
  const row4col = new Int32Array(nc).fill(-1);
  const visitedRows = new Uint8Array(nr);
  const visitedCols = new Uint8Array(nc);
  const remaining = new Int32Array(nc);

  for (let curRow = 0; curRow < nr; curRow++) {
    // Shortest augmenting path from curRow (Crouse's SR / SC are visitedRows / visitedCols).
    let minVal = 0;
    let numRemaining = nc;
    // Reverse order makes a constant matrix's solution the identity (scipy issue #11602).
    for (let it = 0; it < nc; it++) remaining[it] = nc - it - 1;
    visitedRows.fill(0);
    visitedCols.fill(0);
    shortestPathCosts.fill(Number.POSITIVE_INFINITY);
    let i = curRow;
    let sink = -1;
    while (sink === -1) {
      let index = -1;
      let lowest = Number.POSITIVE_INFINITY;
      visitedRows[i] = 1;
      for (let it = 0; it < numRemaining; it++) {
        const j = remaining[it];
        const r = minVal + c[i * nc + j] - u[i] - v[j];
        if (r < shortestPathCosts[j]) {
          path[j] = i;
          shortestPathCosts[j] = r;
        }
        // Among equal minima prefer a free column: it ends the path (matters for small integer costs).
        if (shortestPathCosts[j] < lowest || (shortestPathCosts[j] === lowest && row4col[j] === -1)) {
          lowest = shortestPathCosts[j];
          index = it;
        }
      }
      minVal = lowest;
      if (minVal === Number.POSITIVE_INFINITY) {
        const what = transpose ? `column ${curRow}` : `row ${curRow}`;
        throw new AssignmentError(
          `cost matrix is infeasible: no complete assignment of finite cost exists (while assigning ${what})`,
        );
      }
      const j = remaining[index];
      if (row4col[j] === -1) sink = j;
      else i = row4col[j];
      visitedCols[j] = 1;
      remaining[index] = remaining[--numRemaining];
    }

    // Update the dual variables.
    u[curRow] += minVal;
    for (let r = 0; r < nr; r++) {
      if (visitedRows[r] && r !== curRow) u[r] += minVal - shortestPathCosts[col4row[r]];
    }
    for (let j = 0; j < nc; j++) {
      if (visitedCols[j]) v[j] -= minVal - shortestPathCosts[j];
    }

    // Augment the previous solution along the path.
    let j = sink;
    for (;;) {
      const r = path[j];
      row4col[j] = r;
      const previous = col4row[r];
      col4row[r] = j;
      j = previous;
      if (r === curRow) break;
    }
  }

  if (!transpose) return { rowIndices: Int32Array.from(col4row, (_, r) => r), colIndices: col4row };
  // Transposed: col4row maps original columns to original rows; order the pairs by original row.
  const columns = Int32Array.from(col4row, (_, k) => k).sort((a, b) => col4row[a] - col4row[b]);
  return { rowIndices: Int32Array.from(columns, (k) => col4row[k]), colIndices: columns };
}
