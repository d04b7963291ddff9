"""Reference assignments from scipy.optimize.linear_sum_assignment (scipy 1.10, Debian's python3-scipy) for
src/train/linear-sum-assignment.ts: random square and rectangular matrices (64×8 as in S-Seg's matcher, and
8×64), integer costs full of ties, constant matrices, 1×1, empty, huge values, forbidden (+inf) pairs, and the
matrices scipy rejects (infeasible, NaN, −inf) with its error message.

    /usr/bin/python3 tools/oracles/lsa_fixtures.py   # writes test/fixtures/train/lsa_cases.json
"""
import json
import math

import numpy as np
import scipy
from scipy.optimize import linear_sum_assignment

from common import FIXTURES

rng = np.random.default_rng(0)


def encode(value: float):
    """JSON has no inf/nan: non-finite costs are written as the strings JavaScript's Number() reads back."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return float(value)


def case(name: str, cost) -> dict:
    cost = np.asarray(cost, dtype=np.float64)
    out = {"name": name, "rows": cost.shape[0], "cols": cost.shape[1], "cost": [encode(v) for v in cost.ravel()]}
    try:
        rows, cols = linear_sum_assignment(cost)
        out.update(rowIndices=rows.tolist(), colIndices=cols.tolist(), total=float(cost[rows, cols].sum()))
    except ValueError as err:
        out["error"] = str(err)
    return out


def main():
    with_inf = rng.random((5, 5))
    with_inf[0, [0, 1, 2]] = np.inf
    with_inf[3, 4] = np.inf
    infeasible = rng.random((3, 3))
    infeasible[1, :] = np.inf
    infeasible_tall = rng.random((5, 2))
    infeasible_tall[:, 1] = np.inf
    with_nan = rng.random((3, 4))
    with_nan[2, 1] = np.nan
    with_neg_inf = rng.random((4, 3))
    with_neg_inf[0, 2] = -np.inf
    cases = [
        case("random 6×6", rng.random((6, 6))),
        case("random normal 10×10, negative costs", rng.standard_normal((10, 10))),
        case("random 64×8 (S-Seg: queries × pseudo-masks)", rng.random((64, 8)) * 20),
        case("random 8×64", rng.random((8, 64))),
        case("random 5×9", rng.random((5, 9))),
        case("random 9×5", rng.random((9, 5))),
        case("float32 costs 64×3", rng.random((64, 3)).astype(np.float32)),
        case("integer ties 6×6 in {0,1,2}", rng.integers(0, 3, (6, 6))),
        case("integer ties 12×12 in {0,1}", rng.integers(0, 2, (12, 12))),
        case("integer ties 4×7 in {0,1}", rng.integers(0, 2, (4, 7))),
        case("integer ties 7×4 in {0,1}", rng.integers(0, 2, (7, 4))),
        case("integer ties 64×8 in {0..3}", rng.integers(0, 4, (64, 8))),
        case("all equal 5×5", np.zeros((5, 5))),
        case("all equal 3×6", np.ones((3, 6))),
        case("all equal 6×3", np.full((6, 3), 2.5)),
        case("1×1", [[3.0]]),
        case("1×5", rng.random((1, 5))),
        case("5×1", rng.random((5, 1))),
        case("0×3", np.zeros((0, 3))),
        case("large values 1e15 + small integers", 1e15 + rng.integers(0, 5, (6, 6))),
        case("mixed magnitudes 1e-12 to 1e12", 10.0 ** rng.uniform(-12, 12, (7, 7))),
        case("feasible with +inf entries 5×5", with_inf),
        case("infeasible: a row of +inf", infeasible),
        case("infeasible tall: a column of +inf", infeasible_tall),
        case("NaN entry", with_nan),
        case("-inf entry", with_neg_inf),
    ]
    out = FIXTURES / "train" / "lsa_cases.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"scipy": scipy.__version__, "cases": cases}) + "\n")
    print(f"{len(cases)} cases → {out.relative_to(FIXTURES.parent.parent)}")


if __name__ == "__main__":
    main()
