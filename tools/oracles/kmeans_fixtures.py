"""scikit-learn references for src/pseudo/kmeans.ts: KMeans(algorithm="lloyd", n_init=1) from given centres.

Each case stores the points (F32, or F16 for the large DINO-like case), the initial centres, and sklearn's labels,
centres, inertia, iteration count and why it stopped ("strict", "tol" or "max_iter"). sklearn runs in float64 on
exactly the stored values (as the TypeScript side does). A k-means++ reference (best inertia of 10 seeded runs)
is stored for two cases. Everything goes into one file, well under 300 KB:

    /usr/bin/python3 tools/oracles/kmeans_fixtures.py   # writes test/fixtures/pseudo/kmeans.safetensors
"""
import contextlib
import io

import numpy as np
import sklearn
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs

from common import FIXTURES, save_safetensors

OUT = FIXTURES / "pseudo" / "kmeans.safetensors"
MAX_ITER = 20
rng = np.random.default_rng(0)


def unit_rows(x: np.ndarray) -> np.ndarray:
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def random_rows(points: np.ndarray, k: int) -> np.ndarray:
    return points[rng.choice(len(points), size=k, replace=False)].copy()


def run_lloyd(x: np.ndarray, init: np.ndarray, tol: float, max_iter: int) -> tuple[KMeans, str]:
    """Fit from `init`; the reason for stopping is read from sklearn's verbose log."""
    model = KMeans(len(init), init=init, n_init=1, max_iter=max_iter, tol=tol, algorithm="lloyd", verbose=1)
    log = io.StringIO()
    with contextlib.redirect_stdout(log):
        model.fit(x)
    text = log.getvalue()
    reason = "strict" if "strict convergence" in text else "tol" if "within tolerance" in text else "max_iter"
    return model, reason


tensors, cases = {}, {}


def add_case(name, points, init, *, tol=1e-4, max_iter=MAX_ITER, normalize=False, half=False, expect=None):
    """points as stored (float32); sklearn sees them in float64, L2-normalised when `normalize`."""
    stored = points.astype(np.float16) if half else points.astype(np.float32)
    x = stored.astype(np.float64)
    if normalize:
        x = unit_rows(x)
    init = init.astype(np.float32)
    model, reason = run_lloyd(x, init.astype(np.float64), tol, max_iter)
    if expect is not None:
        assert reason == expect, f"{name}: sklearn stopped by {reason}, the case is meant to stop by {expect}"
    n, dim = stored.shape
    tensors[f"{name}.points"] = ("F16", stored.astype("<f2").tobytes(), stored.shape) if half else stored
    tensors[f"{name}.init"] = init
    tensors[f"{name}.labels"] = ("I32", model.labels_.astype("<i4").tobytes(), (n,))
    tensors[f"{name}.centers"] = model.cluster_centers_
    cases[name] = dict(
        n=n, dim=dim, k=len(init), tol=tol, max_iter=max_iter, normalize=normalize,
        inertia=float(model.inertia_), n_iter=int(model.n_iter_), stopped_by=reason,
    )
    print(f"{name}: n={n} dim={dim} k={len(init)} n_iter={model.n_iter_} ({reason}) inertia={model.inertia_:.6g}")
    return x


def dino_like(n: int, dim: int, k: int, noise: float) -> np.ndarray:
    """Unit vectors around k directions of uneven popularity, sharing a common component like DINO tokens."""
    common = unit_rows(rng.normal(size=(1, dim)))
    directions = unit_rows(rng.normal(size=(k, dim)) / np.sqrt(dim) + 0.6 * common)
    assignment = rng.choice(k, size=n, p=rng.dirichlet(np.full(k, 2.0)))
    return unit_rows(directions[assignment] + noise * rng.normal(size=(n, dim)) / np.sqrt(dim))


# Overlapping Gaussian blobs: a dozen iterations to settle.
blobs, _ = make_blobs(n_samples=300, centers=6, n_features=8, cluster_std=2.5, random_state=0)
blobs = blobs.astype(np.float32)
blobs_x = add_case("blobs", blobs, random_rows(blobs, 6), expect="strict")
# The same points with a loose tolerance: stops on the centre shift, then relabels once more.
add_case("blobs_tol", blobs, random_rows(blobs, 6), tol=1e-2, expect="tol")
# Structureless points and a low iteration cap: stops at max_iter.
uniform = rng.uniform(size=(400, 4)).astype(np.float32)
add_case("max_iter", uniform, random_rows(uniform, 8), max_iter=5, expect="max_iter")
# A 14×14 grid of 384-d DINO-like tokens, K = 8 (stored in half precision to keep the file small), started from
# the 8 tokens nearest one token: a clumped start that takes several iterations to spread out.
dino = dino_like(196, 384, 8, noise=2.0).astype(np.float16)
anchor = dino[rng.integers(len(dino))].astype(np.float64)
clumped = dino[np.argsort(((dino.astype(np.float64) - anchor) ** 2).sum(axis=1))[:8]]
dino_x = add_case("dino", dino, clumped, half=True)
# Rows of arbitrary length: clustered by direction after L2 normalisation.
cosine = dino_like(240, 32, 5, noise=0.8) * rng.uniform(0.5, 4.0, size=(240, 1))
add_case("cosine", cosine, random_rows(unit_rows(cosine.astype(np.float32).astype(np.float64)), 5), normalize=True)
# Two initial centres far from every point: both clusters start empty and take the two farthest points.
groups = np.concatenate([rng.normal(loc=c, scale=1.0, size=(20, 2)) for c in [(0, 0), (8, 0), (0, 8)]])
far = np.array([[60.0, 60.0], [-50.0, 70.0]])
empty_init = np.concatenate([groups[[0, 20, 40]], far])
assert set(np.argmin(((groups[:, None] - empty_init[None]) ** 2).sum(-1), axis=1)) == {0, 1, 2}
add_case("empty", groups, empty_init)
# Integer points exactly halfway between the first two centres (the mean is 0, so centring is exact):
# the lower centre index must win.
ties = np.array([[-3, 0], [-1, 0], [0, 0], [1, 0], [3, 0], [0, 2], [0, -2]], dtype=np.float32)
add_case("ties", ties, np.array([[-1, 0], [1, 0], [0, 3]], dtype=np.float32))

# k-means++ reference: sklearn's best inertia over 10 seeded k-means++ runs.
kmeanspp = {}
for name, x, k in [("blobs", blobs_x, 6), ("dino", dino_x, 8)]:
    model = KMeans(k, init="k-means++", n_init=10, max_iter=MAX_ITER, tol=1e-4, algorithm="lloyd", random_state=0)
    kmeanspp[name] = float(model.fit(x).inertia_)
    print(f"k-means++ {name}: best of 10 inertia={kmeanspp[name]:.6g}")

save_safetensors(OUT, tensors, metadata={"config": {"sklearn": sklearn.__version__, "cases": cases, "kmeanspp": kmeanspp}})
print(f"wrote {OUT.relative_to(FIXTURES.parents[1])} ({OUT.stat().st_size / 1024:.0f} KB)")
