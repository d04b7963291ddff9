"""scikit-learn side of bench/kmeans.ts: KMeans per image on the tokens the TypeScript side wrote.

Run by bench/kmeans.ts with Debian's interpreter (python3-sklearn); OMP_NUM_THREADS in the environment sets
sklearn's threads:

    /usr/bin/python3 bench/kmeans_sklearn.py --inputs TOKENS.safetensors --k 8 --max-iter 20 --tol 1e-4 \
        --warmup 1 --repeats 5

Every F32 tensor in the file is one dataset of shape [images, tokens, features]. Image b is clustered with
KMeans(init="k-means++", n_init=1, algorithm="lloyd", random_state=b). Prints one JSON object on stdout:
{"threads": n, "datasets": {name: {times_ms, cpu_ms, mean_inertia, mean_iterations}}} (cpu_ms: process CPU
time, all threads).
"""
import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
from sklearn.cluster import KMeans
from threadpoolctl import threadpool_info

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tools" / "oracles"))
from safetensors_io import load_f32_safetensors  # noqa: E402  (numpy only: importing torch would change OpenMP)


def cluster_batch(images: np.ndarray, args) -> list:
    return [
        KMeans(args.k, init="k-means++", n_init=1, max_iter=args.max_iter, tol=args.tol, algorithm="lloyd",
               random_state=b).fit(image)
        for b, image in enumerate(images)
    ]


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--inputs", required=True)
    parser.add_argument("--k", type=int, default=8)
    parser.add_argument("--max-iter", type=int, default=20)
    parser.add_argument("--tol", type=float, default=1e-4)
    parser.add_argument("--warmup", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    results = {}
    for name, images in load_f32_safetensors(args.inputs).items():
        times_ms, cpu_ms = [], []
        for run in range(args.warmup + args.repeats):
            start, start_cpu = time.perf_counter(), time.process_time()
            models = cluster_batch(images, args)
            if run >= args.warmup:
                times_ms.append((time.perf_counter() - start) * 1000)
                cpu_ms.append((time.process_time() - start_cpu) * 1000)
        results[name] = {
            "times_ms": times_ms,
            "cpu_ms": cpu_ms,
            "mean_inertia": float(np.mean([m.inertia_ for m in models])),
            "mean_iterations": float(np.mean([m.n_iter_ for m in models])),
        }
    openmp = [info["num_threads"] for info in threadpool_info() if info["user_api"] == "openmp"]
    print(json.dumps({"threads": max(openmp, default=1), "datasets": results}))


if __name__ == "__main__":
    main()
