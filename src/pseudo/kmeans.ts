/**
 * Per-image K-Means for pseudo-masks (spec §2: K-Means, K = 8, on each image's L2-normalised patch tokens).
 * Pure TypeScript, no engine dependency.
 *
 * It is scikit-learn 1.2's `KMeans(algorithm="lloyd", n_init=1)` step for step (`sklearn/cluster/_kmeans.py`,
 * `_k_means_lloyd.pyx`, `_k_means_common.pyx`), so that from the same initial centres both give the same labels,
 * centres, inertia and iteration count:
 * - k-means++ is sklearn's greedy variant: each new centre is the best (lowest potential) of 2 + ⌊ln k⌋
 *   candidates sampled with probability ∝ squared distance to the nearest centre so far;
 * - Lloyd stops when the labels repeat ("strict convergence"), or when Σ‖centre shift‖² ≤ tol · mean
 *   per-feature variance, after which one more assignment step makes the labels match the final centres;
 * - a cluster left empty is moved onto the point farthest from its own (previous) centre, farthest points to
 *   the lowest empty ids; that point keeps its label until the next assignment, as in sklearn;
 * - ties go to the lowest centre index.
 * The data is centred on its mean first (the centres shifted back at the end), as sklearn does, so that
 * ‖x‖² − 2x·c + ‖c‖² stays accurate for data far from the origin. Work is in float64 (sklearn's own precision
 * for float64 input; float32 input there rounds more).
 *
 * Speed: the assignment is exact Lloyd, accelerated with Hamerly's bounds (an upper bound on each point's
 * distance to its centre, a lower bound on the others) so that points whose nearest centre cannot have changed
 * are skipped. That changes no result: a point is skipped only when its nearest centre is closer than the rest
 * by a safe margin. (k-means++ gets no such pruning: in 384 dimensions a candidate is hardly ever twice as far
 * from a point's centre as the point is, so the triangle inequality skips almost nothing.)
 */
import { Rng } from "../engine/rng.js";

export interface KMeansOptions {
  /** Number of clusters. */
  k: number;
  /** Seed of the k-means++ initialisation (default 0); image b of a batch uses seed + b. */
  seed?: number;
  /** Most Lloyd iterations (default 20). */
  maxIter?: number;
  /** Convergence tolerance on the centre shift, relative to the data's mean per-feature variance (default 1e-4, sklearn's). */
  tol?: number;
  /** L2-normalise each point first, i.e. cluster by cosine similarity (default true). Zero rows stay zero. */
  normalize?: boolean;
  /** Initial centres, k × dim (batch × k × dim for a batch) in the space being clustered; replaces k-means++. */
  init?: Float32Array;
}

export interface KMeansResult {
  /** Cluster of each point, n values in [0, k). */
  labels: Int32Array;
  /** k × dim centres (means of the possibly normalised points). */
  centers: Float32Array;
  /** Sum of squared distances of the points to their centres. */
  inertia: number;
  /** Lloyd iterations run (sklearn's n_iter_). */
  iterations: number;
}

const DEFAULT_MAX_ITER = 20;
const DEFAULT_TOL = 1e-4;
/** Centres per group in the dot-product kernel. */
const GROUP = 4;
/**
 * Bounds are trusted only when they win by this fraction of the data's scale: far above float64 rounding in
 * ‖x‖² − 2x·c + ‖c‖² (about 1e-8 of the scale after the square root), far below any real distance gap.
 */
const BOUND_SLACK = 1e-6;

/** K-Means of one image's `n` points of `dim` features (row-major in `points`). */
export function kmeans(points: Float32Array, n: number, dim: number, options: KMeansOptions): KMeansResult {
  return kmeansBatch(points, 1, n, dim, options)[0];
}

/** K-Means of each of `batch` images (`points` is batch × n × dim): one result per image, buffers shared. */
export function kmeansBatch(
  points: Float32Array,
  batch: number,
  n: number,
  dim: number,
  options: KMeansOptions,
): KMeansResult[] {
  const { k, seed = 0, maxIter = DEFAULT_MAX_ITER, tol = DEFAULT_TOL, normalize = true, init } = options;
  checkPositiveInteger("batch", batch);
  checkPositiveInteger("n", n);
  checkPositiveInteger("dim", dim);
  checkPositiveInteger("k", k);
  checkPositiveInteger("maxIter", maxIter);
  if (!(tol >= 0 && Number.isFinite(tol)))
    throw new RangeError(`Expected tol to be a finite number ≥ 0 but received ${tol}`);
  if (!Number.isFinite(seed))
    throw new RangeError(`Expected seed to be a finite number but received ${seed}`);
  if (n < k) throw new RangeError(`Expected n ≥ k: cannot make k = ${k} clusters of n = ${n} points`);
  checkLength("points", points, batch, n, dim);
  if (init) {
    checkLength("init", init, batch, k, dim);
    checkFinite("init", init, batch, k, dim);
  }

  const workspace = new Workspace(n, dim, k);
  const results: KMeansResult[] = [];
  for (let b = 0; b < batch; b++) {
    if (!workspace.load(points, b * n * dim, normalize)) checkFinite("points", points, batch, n, dim);
    if (init) {
      workspace.setCenters(init, b * k * dim);
      assignAll(workspace);
    } else {
      seedKMeansPlusPlus(workspace, new Rng(seed + b));
    }
    const iterations = lloyd(workspace, maxIter, tol * workspace.meanVariance());
    results.push(workspace.result(iterations));
  }
  return results;
}

function checkPositiveInteger(name: string, value: number): void {
  if (!Number.isInteger(value) || value < 1)
    throw new RangeError(`Expected ${name} to be a positive integer but received ${value}`);
}

function checkLength(name: string, values: Float32Array, batch: number, rows: number, dim: number): void {
  const shape = batch === 1 ? `${rows} × ${dim}` : `${batch} × ${rows} × ${dim}`;
  if (values.length !== batch * rows * dim)
    throw new RangeError(
      `Expected ${name} to hold ${shape} = ${batch * rows * dim} values but it has ${values.length}`,
    );
}

/** Throw naming the first non-finite value. */
function checkFinite(name: string, values: Float32Array, batch: number, rows: number, dim: number): void {
  for (let i = 0; i < values.length; i++) {
    if (Number.isFinite(values[i])) continue;
    const row = Math.floor(i / dim) % rows;
    const image = batch === 1 ? "" : `image ${Math.floor(i / (rows * dim))}, `;
    throw new RangeError(
      `${name}[${i}] (${image}row ${row}, column ${i % dim}) is ${values[i]}; values must be finite`,
    );
  }
}

/**
 * Centres packed for the dot-product kernel: groups of 4 stored feature-major ([d][4]) so that the inner loop
 * reads 4 neighbouring values per feature. Unused slots of the last group are zero with squared norm +∞, so
 * they never win a comparison.
 */
class PackedCenters {
  readonly values: Float64Array;
  readonly squaredNorms: Float64Array;
  /** Packed slots in use (a multiple of 4). */
  slots = 0;

  constructor(
    capacity: number,
    readonly dim: number,
  ) {
    const slots = Math.ceil(capacity / GROUP) * GROUP;
    this.values = new Float64Array(slots * dim);
    this.squaredNorms = new Float64Array(slots);
  }

  /** Pack `count` rows of `source` (row-major, dim wide): rows rowIndex(0) … rowIndex(count − 1). */
  pack(source: Float64Array, count: number, rowIndex: (slot: number) => number): void {
    const { dim, values, squaredNorms } = this;
    this.slots = Math.ceil(count / GROUP) * GROUP;
    for (let slot = 0; slot < this.slots; slot++) {
      const base = (slot - (slot % GROUP)) * dim + (slot % GROUP);
      if (slot >= count) {
        for (let d = 0; d < dim; d++) values[base + d * GROUP] = 0;
        squaredNorms[slot] = Number.POSITIVE_INFINITY;
        continue;
      }
      const row = rowIndex(slot) * dim;
      let norm = 0;
      for (let d = 0; d < dim; d++) {
        const v = source[row + d];
        values[base + d * GROUP] = v;
        norm += v * v;
      }
      squaredNorms[slot] = norm;
    }
  }
}

/** Points scored together by the kernel: each load of a centre value serves four points. */
const POINTS = 4;

/**
 * out[offset + r · slots + j] = x_r·c_j for the points x_0 … x_3 (rows p0 … p3 of `data`) and every packed
 * centre j. Sixteen accumulators (4 points × 4 centres) are about as many as V8 keeps in registers; plain
 * scalars: accumulators kept in an array or destructured from one measured 20% slower.
 */
function dotsOfFour(
  data: Float64Array,
  dim: number,
  p0: number,
  p1: number,
  p2: number,
  p3: number,
  centers: PackedCenters,
  out: Float64Array,
  offset: number,
): void {
  const { values, slots } = centers;
  const [row0, row1, row2, row3] = [p0 * dim, p1 * dim, p2 * dim, p3 * dim];
  for (let group = 0; group < slots; group += GROUP) {
    let s00 = 0;
    let s01 = 0;
    let s02 = 0;
    let s03 = 0;
    let s10 = 0;
    let s11 = 0;
    let s12 = 0;
    let s13 = 0;
    let s20 = 0;
    let s21 = 0;
    let s22 = 0;
    let s23 = 0;
    let s30 = 0;
    let s31 = 0;
    let s32 = 0;
    let s33 = 0;
    let p = group * dim;
    for (let f = 0; f < dim; f++, p += GROUP) {
      const x0 = data[row0 + f];
      const x1 = data[row1 + f];
      const x2 = data[row2 + f];
      const x3 = data[row3 + f];
      let c = values[p];
      s00 += x0 * c;
      s10 += x1 * c;
      s20 += x2 * c;
      s30 += x3 * c;
      c = values[p + 1];
      s01 += x0 * c;
      s11 += x1 * c;
      s21 += x2 * c;
      s31 += x3 * c;
      c = values[p + 2];
      s02 += x0 * c;
      s12 += x1 * c;
      s22 += x2 * c;
      s32 += x3 * c;
      c = values[p + 3];
      s03 += x0 * c;
      s13 += x1 * c;
      s23 += x2 * c;
      s33 += x3 * c;
    }
    let at = offset + group;
    out[at] = s00;
    out[at + 1] = s01;
    out[at + 2] = s02;
    out[at + 3] = s03;
    at += slots;
    out[at] = s10;
    out[at + 1] = s11;
    out[at + 2] = s12;
    out[at + 3] = s13;
    at += slots;
    out[at] = s20;
    out[at + 1] = s21;
    out[at + 2] = s22;
    out[at + 3] = s23;
    at += slots;
    out[at] = s30;
    out[at + 1] = s31;
    out[at + 2] = s32;
    out[at + 3] = s33;
  }
}

/**
 * scores[t · slots + j] = ‖c_j‖² − 2·x·c_j for each listed point x = rows[t] (t < count) and packed centre j:
 * the squared distance less ‖x‖², which is all the comparison of centres needs.
 */
function centerScores(
  data: Float64Array,
  dim: number,
  rows: Int32Array,
  count: number,
  centers: PackedCenters,
  scores: Float64Array,
): void {
  const { slots, squaredNorms } = centers;
  const last = count - 1;
  for (let t = 0; t < count; t += POINTS) {
    // The last few points are padded with copies of the last one; `scores` has room for the extra rows.
    const [p1, p2, p3] = [Math.min(t + 1, last), Math.min(t + 2, last), Math.min(t + 3, last)];
    dotsOfFour(data, dim, rows[t], rows[p1], rows[p2], rows[p3], centers, scores, t * slots);
  }
  for (let t = 0; t < count; t++)
    for (let j = 0; j < slots; j++) scores[t * slots + j] = squaredNorms[j] - 2 * scores[t * slots + j];
}

/** Squared Euclidean distance between row i of `a` and row j of `b` (both dim wide), summed directly. */
function squaredDistance(a: Float64Array, i: number, b: Float64Array, j: number, dim: number): number {
  const rowA = i * dim;
  const rowB = j * dim;
  let sum = 0;
  for (let d = 0; d < dim; d++) {
    const diff = a[rowA + d] - b[rowB + d];
    sum += diff * diff;
  }
  return sum;
}

/** One image's data and every buffer the algorithm needs, reused across the images of a batch. */
class Workspace {
  /** The points, normalised if asked, minus their mean (n × dim). */
  readonly data: Float64Array;
  readonly mean: Float64Array;
  /** ‖x‖² of each (centred) point. */
  readonly squaredNorms: Float64Array;
  /** Largest ‖x‖ and ‖c‖ seen: the scale of the bound margin. */
  radius = 0;
  centers: Float64Array;
  nextCenters: Float64Array;
  readonly packed: PackedCenters;
  /** Per-cluster sums of the points labelled with it, kept in step with `labels`. */
  readonly sums: Float64Array;
  readonly counts: Float64Array;
  /** The counts after moving points to empty clusters, for one update step. */
  readonly weights: Float64Array;
  readonly labels: Int32Array;
  /** Hamerly's bounds: upper ≥ distance to the own centre, lower ≤ distance to every other centre. */
  readonly upper: Float64Array;
  readonly lower: Float64Array;
  /** How far each centre moved in the last update. */
  readonly shifts: Float64Array;
  /** Half the distance from each centre to its nearest other centre. */
  readonly halfSeparation: Float64Array;
  /** The points the kernel scores next, and their scores (see centerScores). */
  readonly rows: Int32Array;
  readonly scores: Float64Array;
  /** One number per point: k-means++'s cumulative potential, the relocation's distances. */
  readonly pointScratch: Float64Array;

  constructor(
    readonly n: number,
    readonly dim: number,
    readonly k: number,
  ) {
    const slots = Math.ceil(Math.max(k, plusPlusTrials(k)) / GROUP) * GROUP;
    this.data = new Float64Array(n * dim);
    this.mean = new Float64Array(dim);
    this.squaredNorms = new Float64Array(n);
    this.centers = new Float64Array(k * dim);
    this.nextCenters = new Float64Array(k * dim);
    this.packed = new PackedCenters(slots, dim);
    this.sums = new Float64Array(k * dim);
    this.counts = new Float64Array(k);
    this.weights = new Float64Array(k);
    this.labels = new Int32Array(n);
    this.upper = new Float64Array(n);
    this.lower = new Float64Array(n);
    this.shifts = new Float64Array(k);
    this.halfSeparation = new Float64Array(k);
    this.rows = new Int32Array(n);
    this.scores = new Float64Array((n + POINTS - 1) * slots);
    this.pointScratch = new Float64Array(n);
  }

  /** Copy image points[offset …] in, normalised if asked, and centre it; false if a value is not finite. */
  load(points: Float32Array, offset: number, normalize: boolean): boolean {
    const { n, dim, data, mean, squaredNorms } = this;
    mean.fill(0);
    for (let i = 0; i < n; i++) {
      const source = offset + i * dim;
      let scale = 1;
      if (normalize) {
        let squaredNorm = 0;
        for (let d = 0; d < dim; d++) squaredNorm += points[source + d] * points[source + d];
        if (squaredNorm > 0) scale = 1 / Math.sqrt(squaredNorm);
      }
      for (let d = 0; d < dim; d++) {
        const value = points[source + d] * scale;
        data[i * dim + d] = value;
        mean[d] += value;
      }
    }
    for (let d = 0; d < dim; d++) mean[d] /= n;
    // A non-finite value makes its feature's mean non-finite (float32 values cannot overflow a float64 sum).
    if (!mean.every(Number.isFinite)) return false;
    let largest = 0;
    for (let i = 0; i < n; i++) {
      let squaredNorm = 0;
      for (let d = 0; d < dim; d++) {
        const value = data[i * dim + d] - mean[d];
        data[i * dim + d] = value;
        squaredNorm += value * value;
      }
      squaredNorms[i] = squaredNorm;
      largest = Math.max(largest, squaredNorm);
    }
    this.radius = Math.sqrt(largest);
    return true;
  }

  /** sklearn's tolerance scale: the mean over features of the variance of the points. */
  meanVariance(): number {
    let total = 0;
    for (let i = 0; i < this.n; i++) total += this.squaredNorms[i];
    return total / (this.n * this.dim);
  }

  setCenters(init: Float32Array, offset: number): void {
    const { k, dim, centers, mean } = this;
    for (let j = 0; j < k; j++)
      for (let d = 0; d < dim; d++) centers[j * dim + d] = init[offset + j * dim + d] - mean[d];
  }

  /** Pack the current centres for the kernel and widen the bound margin to their scale. */
  packCenters(): void {
    this.packed.pack(this.centers, this.k, (slot) => slot);
    for (let j = 0; j < this.k; j++)
      this.radius = Math.max(this.radius, Math.sqrt(this.packed.squaredNorms[j]));
  }

  /** The result; the inertia Σ‖x − c‖² expands to Σ‖x‖² + Σ_j (n_j‖c_j‖² − 2 c_j·S_j), from the cluster sums S_j. */
  result(iterations: number): KMeansResult {
    const { n, k, dim, squaredNorms, centers, mean, sums, counts, labels } = this;
    let inertia = 0;
    for (let i = 0; i < n; i++) inertia += squaredNorms[i];
    for (let j = 0; j < k; j++) {
      let squaredNorm = 0;
      let dotSum = 0;
      for (let d = j * dim; d < (j + 1) * dim; d++) {
        squaredNorm += centers[d] * centers[d];
        dotSum += centers[d] * sums[d];
      }
      inertia += counts[j] * squaredNorm - 2 * dotSum;
    }
    return {
      labels: labels.slice(),
      centers: Float32Array.from(centers, (value, i) => value + mean[i % dim]),
      inertia: Math.max(0, inertia),
      iterations,
    };
  }
}

/** sklearn's number of k-means++ candidates per centre. */
function plusPlusTrials(k: number): number {
  return 2 + Math.floor(Math.log(k));
}

/**
 * sklearn's greedy k-means++ (`_kmeans_plusplus`) into ws.centers. It also leaves Lloyd's first assignment:
 * each point's nearest centre (ties to the earlier centre, i.e. the lower index) and Hamerly's bounds for it.
 */
function seedKMeansPlusPlus(ws: Workspace, rng: Rng): void {
  const { n, dim, k, data, squaredNorms, centers, packed, rows, scores } = ws;
  const trials = plusPlusTrials(k);
  const closest = ws.upper; // squared distance to the nearest centre; made a distance at the end
  const secondClosest = ws.lower; // distance to the second nearest centre
  const nearest = ws.labels;
  const cumulative = ws.pointScratch;
  const chosen = new Int32Array(k);
  const candidates = new Int32Array(trials);
  const potentials = new Float64Array(trials);

  chosen[0] = rng.int(n);
  for (let i = 0; i < n; i++) {
    closest[i] = squaredDistance(data, i, data, chosen[0], dim);
    secondClosest[i] = Number.POSITIVE_INFINITY;
    nearest[i] = 0;
    rows[i] = i;
  }
  for (let c = 1; c < k; c++) {
    let potential = 0;
    for (let i = 0; i < n; i++) {
      potential += closest[i];
      cumulative[i] = potential;
    }
    for (let t = 0; t < trials; t++) {
      // np.searchsorted(cumsum, r, side="left"), clipped to the last point as sklearn does.
      candidates[t] = Math.min(lowerBound(cumulative, rng.uniform() * potential), n - 1);
    }
    packed.pack(data, trials, (slot) => candidates[slot]);
    centerScores(data, dim, rows, n, packed, scores);
    const slots = packed.slots;
    potentials.fill(0);
    for (let i = 0; i < n; i++)
      for (let t = 0; t < trials; t++)
        potentials[t] += Math.min(closest[i], Math.max(0, squaredNorms[i] + scores[i * slots + t]));
    let best = 0;
    for (let t = 1; t < trials; t++) if (potentials[t] < potentials[best]) best = t;
    chosen[c] = candidates[best];
    for (let i = 0; i < n; i++) {
      const distance = Math.max(0, squaredNorms[i] + scores[i * slots + best]);
      if (distance < closest[i]) {
        secondClosest[i] = Math.sqrt(closest[i]);
        closest[i] = distance;
        nearest[i] = c;
      } else {
        secondClosest[i] = Math.min(secondClosest[i], Math.sqrt(distance));
      }
    }
  }
  for (let i = 0; i < n; i++) closest[i] = Math.sqrt(closest[i]);
  for (let j = 0; j < k; j++) centers.set(data.subarray(chosen[j] * dim, (chosen[j] + 1) * dim), j * dim);
  ws.packCenters();
}

/** First index i with sorted[i] ≥ value (sorted.length when there is none). */
function lowerBound(sorted: Float64Array, value: number): number {
  let low = 0;
  let high = sorted.length;
  while (low < high) {
    const mid = (low + high) >>> 1;
    if (sorted[mid] < value) low = mid + 1;
    else high = mid;
  }
  return low;
}

/** Lloyd's first assignment from the given centres ws.centers: every point against every centre. */
function assignAll(ws: Workspace): void {
  ws.packCenters();
  for (let i = 0; i < ws.n; i++) ws.rows[i] = i;
  assignListed(ws, ws.n, false);
}

/** sklearn's `_kmeans_single_lloyd`, the first assignment done; returns the number of iterations. */
function lloyd(ws: Workspace, maxIter: number, tolerance: number): number {
  sumClusters(ws);
  for (let iteration = 0; iteration < maxIter; iteration++) {
    const changed = iteration === 0 ? ws.n : assignWithBounds(ws);
    const totalShift = updateCenters(ws);
    if (iteration > 0 && changed === 0) return iteration + 1; // strict convergence: labels repeat
    if (totalShift <= tolerance) {
      assignWithBounds(ws);
      return iteration + 1;
    }
  }
  assignWithBounds(ws); // the last centres moved: relabel so labels and centres agree
  return maxIter;
}

/**
 * Label the points ws.rows[0 … count) by full comparison with every centre, resetting their bounds; when
 * `track`, move each relabelled point between cluster sums. Returns how many labels changed.
 */
function assignListed(ws: Workspace, count: number, track: boolean): number {
  const { dim, k, data, squaredNorms, packed, rows, scores, labels, upper, lower } = ws;
  centerScores(data, dim, rows, count, packed, scores);
  const slots = packed.slots;
  let changed = 0;
  for (let r = 0; r < count; r++) {
    const i = rows[r];
    const base = r * slots;
    let best = 0;
    let bestScore = scores[base];
    let secondScore = Number.POSITIVE_INFINITY;
    for (let j = 1; j < k; j++) {
      const score = scores[base + j];
      if (score < bestScore) {
        secondScore = bestScore;
        bestScore = score;
        best = j;
      } else if (score < secondScore) {
        secondScore = score;
      }
    }
    upper[i] = Math.sqrt(Math.max(0, squaredNorms[i] + bestScore));
    lower[i] = Math.sqrt(Math.max(0, squaredNorms[i] + secondScore));
    if (track && labels[i] !== best) {
      movePoint(ws, i, labels[i], best);
      changed++;
    }
    labels[i] = best;
  }
  return changed;
}

/**
 * Hamerly's assignment step: only points whose bounds allow another nearest centre are compared in full.
 * Hamerly's tightening of the upper bound first (one exact distance) is left out: in 384 dimensions it seldom
 * spares the full comparison, and keeping it made the benchmark ~20% slower.
 */
function assignWithBounds(ws: Workspace): number {
  const { n, dim, k, centers, labels, upper, lower, halfSeparation, rows } = ws;
  for (let j = 0; j < k; j++) {
    let nearest = Number.POSITIVE_INFINITY;
    for (let other = 0; other < k; other++)
      if (other !== j) nearest = Math.min(nearest, squaredDistance(centers, j, centers, other, dim));
    halfSeparation[j] = Math.sqrt(nearest) / 2;
  }
  const slack = BOUND_SLACK * ws.radius;
  let count = 0;
  for (let i = 0; i < n; i++) {
    const own = labels[i];
    if (upper[i] >= Math.max(lower[i], halfSeparation[own]) - slack) rows[count++] = i;
  }
  return assignListed(ws, count, true);
}

function movePoint(ws: Workspace, i: number, from: number, to: number): void {
  const { dim, data, sums, counts } = ws;
  for (let d = 0; d < dim; d++) {
    sums[from * dim + d] -= data[i * dim + d];
    sums[to * dim + d] += data[i * dim + d];
  }
  counts[from]--;
  counts[to]++;
}

function sumClusters(ws: Workspace): void {
  const { n, dim, data, sums, counts, labels } = ws;
  sums.fill(0);
  counts.fill(0);
  for (let i = 0; i < n; i++) {
    const row = labels[i] * dim;
    for (let d = 0; d < dim; d++) sums[row + d] += data[i * dim + d];
    counts[labels[i]]++;
  }
}

/**
 * The update step: new centres are the cluster means (after relocating empty clusters), the bounds follow the
 * centres' shifts, and the centres are repacked. Returns Σ‖shift‖², sklearn's convergence measure.
 */
function updateCenters(ws: Workspace): number {
  const { n, k, dim, centers, nextCenters, sums, counts, weights, labels, upper, lower, shifts } = ws;
  nextCenters.set(sums);
  weights.set(counts);
  relocateEmptyClusters(ws);
  let totalShift = 0;
  let largest = 0;
  let secondLargest = 0;
  let largestCluster = -1;
  for (let j = 0; j < k; j++) {
    // A cluster still empty sits at sklearn's zero sum (the data mean); here the sum is rounding residue.
    if (weights[j] > 0) for (let d = j * dim; d < (j + 1) * dim; d++) nextCenters[d] /= weights[j];
    else nextCenters.fill(0, j * dim, (j + 1) * dim);
    const squaredShift = squaredDistance(centers, j, nextCenters, j, dim);
    totalShift += squaredShift;
    shifts[j] = Math.sqrt(squaredShift);
    if (shifts[j] > largest) {
      secondLargest = largest;
      largest = shifts[j];
      largestCluster = j;
    } else if (shifts[j] > secondLargest) {
      secondLargest = shifts[j];
    }
  }
  for (let i = 0; i < n; i++) {
    upper[i] += shifts[labels[i]];
    lower[i] -= labels[i] === largestCluster ? secondLargest : largest;
  }
  ws.centers = nextCenters;
  ws.nextCenters = centers;
  ws.packCenters();
  return totalShift;
}

/**
 * sklearn's `_relocate_empty_clusters_dense`: each empty cluster (in id order) takes the next point farthest
 * from its own previous centre (farthest first, ties to the lower index), which leaves its old cluster's sum.
 * The labels stay as they are. sklearn picks the points with np.argpartition, whose order is the sorted one for
 * up to two empty clusters; with more it is numpy's, which this does not reproduce.
 */
function relocateEmptyClusters(ws: Workspace): void {
  const { n, k, dim, data, centers, nextCenters, weights, labels } = ws;
  const empty: number[] = [];
  for (let j = 0; j < k; j++) if (weights[j] === 0) empty.push(j);
  if (empty.length === 0) return;
  const distances = ws.pointScratch;
  let farthest = 0;
  for (let i = 0; i < n; i++) {
    distances[i] = squaredDistance(data, i, centers, labels[i], dim);
    farthest = Math.max(farthest, distances[i]);
  }
  if (farthest === 0) return; // fewer distinct points than clusters: nowhere to move to
  for (const j of empty) {
    let far = 0;
    for (let i = 1; i < n; i++) if (distances[i] > distances[far]) far = i;
    distances[far] = Number.NEGATIVE_INFINITY;
    const from = labels[far];
    for (let d = 0; d < dim; d++) {
      nextCenters[from * dim + d] -= data[far * dim + d];
      nextCenters[j * dim + d] = data[far * dim + d];
    }
    weights[j] = 1;
    weights[from]--;
  }
}
