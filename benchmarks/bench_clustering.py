"""Benchmark: pseudo labelling at Market-1501 and MSMT17 training-set sizes.

The SpCL / Cluster Contrast recipe (k-reciprocal Jaccard distance, k1=30, k2=6;
DBSCAN eps 0.6, min_samples 4) on random-but-clustered 2048-d features:
12,936 samples of 751 identities (Market-1501 train) and 32,621 of 1,041
(MSMT17 train). Each identity is a random unit direction; each sample adds the
direction of its (random) camera, scaled 0.8, and isotropic noise of norm 2.2,
so that cross-camera pairs of one identity are the hard ones, as in real data.

One child process per size, so that its peak resident memory (ru_maxrss) is its
own. In it the kNN search and the encoding V run once; then the sparse output
(pairs <= eps only) is built and clustered first, its peak recorded, and then the
dense (N, N) float32 output, whose peak is the process's final high-water mark.
Both must give identical labels.

    .venv/bin/python benchmarks/bench_clustering.py --case market
    .venv/bin/python benchmarks/bench_clustering.py --case msmt --json out.json
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

# Run as a script from anywhere: the repository root holds the `pipeline` package.
REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

# (samples, identities, cameras) of the training sets.
CASES = {"market": (12_936, 751, 6), "msmt": (32_621, 1_041, 15)}
DIM = 2048
# Norms of the camera offset and of the noise, against unit identity centres:
# chosen so that DBSCAN finds most identities but not all (on the Market size:
# ~870 clusters for 751 ids, ~10% outliers, NMI ~0.97).
CAMERA, NOISE = 0.8, 2.2
K1, K2, EPS, MIN_SAMPLES = 30, 6, 0.6, 4


def clustered_features(
    n: int, n_ids: int, n_cams: int, dim: int, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(n, dim) float32 features and their identities."""
    rng = np.random.default_rng(seed)

    def unit_rows(count: int) -> np.ndarray:
        rows = rng.standard_normal((count, dim), dtype=np.float32)
        return rows / np.linalg.norm(rows, axis=1, keepdims=True)

    centres, cameras = unit_rows(n_ids), unit_rows(n_cams)
    ids = rng.integers(0, n_ids, n)
    cams = rng.integers(0, n_cams, n)
    noise = rng.standard_normal((n, dim), dtype=np.float32)
    noise *= np.float32(NOISE / np.sqrt(dim))
    return centres[ids] + np.float32(CAMERA) * cameras[cams] + noise, ids


def peak_rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB on Linux


def run_case(name: str, seed: int) -> dict:
    from pipeline.clustering import (
        cluster,
        jaccard_distance,
        k_reciprocal_encoding,
        knn,
        l2_normalize,
        label_quality,
        sparse_jaccard_distance,
    )

    n, n_ids, n_cams = CASES[name]
    feats, ids = clustered_features(n, n_ids, n_cams, DIM, seed)
    out: dict = {"case": name, "n": n, "dim": DIM, "ids": n_ids, "rss_inputs_gib": peak_rss_gib()}
    out["load_average_1min"] = os.getloadavg()[0]  # the machine is shared: wall times vary
    t: dict[str, float] = {}

    def timed(key, fn, *args, **kwargs):
        wall, cpu = time.perf_counter(), time.process_time()
        result = fn(*args, **kwargs)
        t[f"{key}_wall_s"] = time.perf_counter() - wall
        t[f"{key}_cpu_s"] = time.process_time() - cpu  # all threads of this process
        return result

    x = timed("normalize", l2_normalize, feats)
    idx, dist = timed("knn", knn, x, K1 + 1)
    v = timed("encode", k_reciprocal_encoding, idx, dist, K1, K2, features=x)
    out["v_nnz_per_row"] = v.nnz / n

    near = timed("sparse_jaccard", sparse_jaccard_distance, v, EPS)
    labels_sparse = timed("sparse_dbscan", cluster, near, "dbscan", EPS, MIN_SAMPLES)
    out["sparse_nnz_per_row"] = near.nnz / n
    out["sparse_peak_rss_gib"] = peak_rss_gib()
    del near
    gc.collect()

    dense = timed("dense_jaccard", jaccard_distance, v)
    labels = timed("dense_dbscan", cluster, dense, "dbscan", EPS, MIN_SAMPLES)
    out["dense_peak_rss_gib"] = peak_rss_gib()
    out["dense_matrix_gib"] = dense.nbytes / 2**30
    out["labels_identical"] = bool(np.array_equal(labels, labels_sparse))
    for storage in ("sparse", "dense"):
        steps = ("normalize", "knn", "encode", f"{storage}_jaccard", f"{storage}_dbscan")
        for clock in ("wall", "cpu"):
            out[f"{storage}_total_{clock}_s"] = sum(t[f"{s}_{clock}_s"] for s in steps)
    out.update(t)
    out.update({f"quality_{k}": v for k, v in label_quality(labels, ids).items()})
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", choices=[*CASES, "all"], default="market")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(run_case(args.case, args.seed)))
        return
    results = []
    for name in CASES if args.case == "all" else [args.case]:
        cmd = [sys.executable, __file__, "--child", "--case", name, "--seed", str(args.seed)]
        done = subprocess.run(cmd, capture_output=True, text=True, check=True)
        results.append(json.loads(done.stdout.strip().splitlines()[-1]))
        for key, value in results[-1].items():
            print(
                f"{name:7s} {key:28s} {value:.4g}"
                if isinstance(value, float)
                else f"{name:7s} {key:28s} {value}"
            )
    if args.json:
        from pipeline.io import write_json

        write_json(args.json, results)


if __name__ == "__main__":
    main()
