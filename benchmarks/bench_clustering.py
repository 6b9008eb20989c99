"""Benchmark: one pseudo-label round from Market-1501 / MSMT17 sizes up to 500,000 samples.

The SpCL / Cluster Contrast recipe (k-reciprocal Jaccard distance, k1=30, k2=6;
DBSCAN eps 0.6, min_samples 4) on random-but-clustered features: 12,936 samples
of 751 identities (Market-1501 train), 32,621 of 1,041 (MSMT17 train), and
100,000 / 500,000 at MSMT17's 31 samples per identity, each in 2048-d (ResNet-50)
and 256-d (the DICL embedding). Each identity is a random unit direction; each
sample adds the direction of its (random) camera, scaled 0.8, and isotropic noise
of norm 2.2, so that cross-camera pairs of one identity are the hard ones, as in
real data.

One child process per (case, neighbour route), so that its peak resident memory
(ru_maxrss) is its own, with the AVX2 kernels every stage pins (``--kernels native``:
the CPU's own); CPU seconds include the int8 route's search process, whose peak
RSS counts in "with child" (the sampled peak of both processes together): normalise, kNN ("exact" faiss flat, "int8", "ivf", or "torch": kNN, encoding and
Jaccard with torch on the first GPU, whose peak memory it records), encoding
V, sparse Jaccard (pairs <= eps), DBSCAN. The ``cuhk-256`` case is DICL's CUHK-SYSU
round (55,272 x 256): ``--case cuhk-256 --route exact torch`` on a GPU node. Labels of a route are compared (ARI) with
those of the exact route of the same case when that ran in the same invocation, and
so are its neighbour lists (the share of rows with the same set of k1 + 1).

    .venv/bin/python benchmarks/bench_clustering.py --case market msmt --route exact int8 ivf
    .venv/bin/python benchmarks/bench_clustering.py --case 500k-256 --route int8 \
        --json reports/bench_clustering.json --plot reports/bench_clustering.png --table

``--case`` with no names runs nothing: it redraws the plot or table from ``--json``.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

# Run as a script from anywhere: the repository root holds the `pipeline` package.
REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

# name: (samples, identities, cameras, dimension). Beyond MSMT17: its 31 samples an id.
CASES = {
    "smoke": (5_000, 290, 6, 2048),  # a quick check of the benchmark itself
    "market": (12_936, 751, 6, 2048),
    "msmt": (32_621, 1_041, 15, 2048),
    "msmt-256": (32_621, 1_041, 15, 256),
    # DICL's CUHK-SYSU round: its memory's 55,272 training boxes, 256-d embeddings, no cameras.
    "cuhk-256": (55_272, 5_532, 1, 256),
    "100k": (100_000, 3_226, 15, 2048),
    "100k-256": (100_000, 3_226, 15, 256),
    "500k": (500_000, 16_129, 15, 2048),
    "500k-256": (500_000, 16_129, 15, 256),
}
ROUTES = ("exact", "int8", "ivf", "torch")
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


def peak_rss_gib(who: int = resource.RUSAGE_SELF) -> float:
    return resource.getrusage(who).ru_maxrss / 2**20  # KiB on Linux


class TreePeakRss:
    """Peak RSS of this process and its children together, sampled every 20 ms.

    The int8 route's search process overlaps the caller in time; ru_maxrss cannot add
    them (and a child's counts the parent's pages at its fork).
    """

    def __init__(self) -> None:
        import psutil

        self._me = psutil.Process()
        self.peak = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        import psutil

        while not self._stop.wait(0.02):
            total = self._me.memory_info().rss
            for child in self._me.children(recursive=True):
                try:
                    total += child.memory_info().rss
                except psutil.Error:  # ended meanwhile
                    pass
            self.peak = max(self.peak, total)

    def stop_gib(self) -> float:
        self._stop.set()
        self._thread.join()
        return self.peak / 2**30


def cpu_seconds() -> float:
    """CPU time of this process (all threads) and of its finished children (the int8
    route's uncapped search runs in one)."""
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return time.process_time() + children.ru_utime + children.ru_stime


def run_case(name: str, route: str, seed: int, labels_out: Path, lists_out: Path) -> dict:
    from pipeline.clustering import (
        cluster,
        k_reciprocal_encoding,
        knn,
        l2_normalize,
        label_quality,
        neighbours,
        sparse_jaccard_distance,
    )
    from pipeline.clustering.sparse_jaccard import sparse_jaccard_distance_torch
    from pipeline.clustering.torch_encoding import k_reciprocal_encoding_torch

    n, n_ids, n_cams, dim = CASES[name]
    feats, ids = clustered_features(n, n_ids, n_cams, dim, seed)
    if route == "int8":
        # Loaded by every training stage, so not timed; its ~0.5 GiB count in the peak RSS
        # (imported after the inputs, whose temporaries are no part of a round).
        import torch  # noqa: F401

        # Count the rows the int8 route could not prove and searched exactly.
        exact_rows = []
        search = neighbours.faiss.knn

        def counted(xq, xb, k):
            exact_rows.append(len(xq))
            return search(xq, xb, k)

        neighbours.faiss.knn = counted
    if route == "torch":  # on the first GPU when there is one (else the CPU)
        import torch

        device = neighbours.default_device()
        if device.type == "cuda":
            torch.zeros(1, device=device)  # CUDA context outside the timings
            torch.cuda.reset_peak_memory_stats(device)
    out: dict = {"case": name, "route": route, "n": n, "dim": dim, "ids": n_ids}
    out["rss_inputs_gib"] = peak_rss_gib()
    tree = TreePeakRss()
    out["load_average_1min"] = os.getloadavg()[0]  # the machine is shared: wall times vary
    t: dict[str, float] = {}

    def timed(key, fn, *args, **kwargs):
        wall, cpu = time.perf_counter(), cpu_seconds()
        result = fn(*args, **kwargs)
        t[f"{key}_wall_s"] = time.perf_counter() - wall
        t[f"{key}_cpu_s"] = cpu_seconds() - cpu
        return result

    x = timed("normalize", l2_normalize, feats)
    del feats
    idx, dist = timed("knn", knn, x, K1 + 1, route=route)
    if route == "int8":
        out["rows_searched_exactly"] = sum(exact_rows)
    np.save(lists_out, idx)
    if route == "torch":  # the encoding on the device too
        v = timed(
            "encode", k_reciprocal_encoding_torch, idx, dist, K1, K2, features=x, device=device
        )
    else:
        v = timed("encode", k_reciprocal_encoding, idx, dist, K1, K2, features=x)
    out["v_nnz_per_row"] = v.nnz / n
    del idx, dist
    if route == "torch":
        near = timed("jaccard", sparse_jaccard_distance_torch, v, EPS, device=device)
        if device.type == "cuda":
            out["gpu_peak_gib"] = torch.cuda.max_memory_allocated(device) / 2**30
            out["device"] = torch.cuda.get_device_name(device)
    else:
        near = timed("jaccard", sparse_jaccard_distance, v, EPS)
    out["jaccard_nnz_per_row"] = near.nnz / n
    del v
    labels = timed("dbscan", cluster, near, "dbscan", EPS, MIN_SAMPLES)
    out["peak_rss_gib"] = peak_rss_gib()
    out["tree_peak_rss_gib"] = tree.stop_gib()  # with the int8 search process
    out["kernels"] = os.environ.get("BENCH_KERNELS", "native")
    for clock in ("wall", "cpu"):
        out[f"total_{clock}_s"] = sum(v for k, v in t.items() if k.endswith(f"_{clock}_s"))
    out.update(t)
    out.update({f"quality_{k}": q for k, q in label_quality(labels, ids).items()})
    np.save(labels_out, labels)
    return out


def plot(results: list[dict], path: Path) -> None:
    """Wall time, CPU time and peak memory against N, one line per (dimension, route).

    Rows measured while other jobs held the cores have inflated wall times: their
    CPU seconds (all threads of the process) are the steadier figure.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = (
        ("total_wall_s", "wall time of one round (s)"),
        ("total_cpu_s", "CPU time of one round (s)"),
        ("peak_rss_gib", "peak RSS (GiB)"),
    )
    fig, axes = plt.subplots(1, len(panels), figsize=(15, 4))
    for key in sorted({(r["dim"], r["route"]) for r in results}):
        rows = sorted((r for r in results if (r["dim"], r["route"]) == key), key=lambda r: r["n"])
        for ax, (field, _) in zip(axes, panels, strict=True):
            ax.plot(
                [r["n"] for r in rows],
                [r[field] for r in rows],
                "o-",
                label=f"{key[0]}-d, {key[1]}",
            )
    for ax, (_, ylabel) in zip(axes, panels, strict=True):
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())  # decades only
        ax.set_xlabel("samples N")
        ax.set_ylabel(ylabel)
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8)
    fig.suptitle("Pseudo-label round (kNN, Jaccard, DBSCAN) on 2 cores")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100, metadata={"Software": None})  # no version/date: deterministic
    plt.close(fig)


def table(results: list[dict]) -> str:
    """The results as a markdown table, by dimension, N and route."""
    head = (
        "| N | dim | route | wall s | CPU s | kNN wall s | kNN CPU s | Jaccard wall s "
        "| DBSCAN wall s | peak RSS GiB | with child GiB | rows searched exactly "
        "| lists = exact | ARI vs exact | clusters | kernels | load avg (1 min) |"
    )
    lines = [head, "|" + "---|" * head.count(" | ") + "---|"]
    for r in results:
        ari = r.get("ari_vs_exact")
        ari = "(ref)" if r["route"] == "exact" else ("n/a" if ari is None else f"{ari:.4f}")
        same = r.get("lists_equal_exact")
        same = "(ref)" if r["route"] == "exact" else ("n/a" if same is None else f"{same:.4f}")
        cells = [
            f"{r['n']:,}", str(r["dim"]), r["route"], f"{r['total_wall_s']:.1f}",
            f"{r['total_cpu_s']:.1f}", f"{r['knn_wall_s']:.1f}", f"{r['knn_cpu_s']:.1f}",
            f"{r['jaccard_wall_s']:.1f}", f"{r['dbscan_wall_s']:.1f}",
            f"{r['peak_rss_gib']:.2f}", f"{r['tree_peak_rss_gib']:.2f}" if "tree_peak_rss_gib" in r else "",
            str(r.get("rows_searched_exactly", "")), same, ari,
            str(r["quality_num_clusters"]), r.get("kernels", "native"),
            f"{r['load_average_1min']:.1f}",
        ]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--case", nargs="*", choices=list(CASES), default=["market"])
    parser.add_argument("--route", nargs="+", choices=ROUTES, default=["exact"])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--kernels",
        choices=("avx2", "native"),
        default="avx2",
        help="avx2: the kernels every stage pins (pipeline/cpu_kernels.py); native: the CPU's own",
    )
    parser.add_argument("--json", type=Path, help="write the results here (merged by case, route)")
    parser.add_argument("--plot", type=Path, help="plot time and memory against N from --json")
    parser.add_argument("--table", action="store_true", help="print --json as a markdown table")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        route, labels_out, lists_out = args.child
        row = run_case(args.case[0], route, args.seed, Path(labels_out), Path(lists_out))
        print(json.dumps(row))
        return
    results = []
    if args.json and args.json.exists():
        results = json.loads(args.json.read_text())
    with tempfile.TemporaryDirectory() as tmp:
        for name in args.case:
            for route in args.route:
                labels = Path(tmp) / f"{name}-{route}.npy"
                lists = Path(tmp) / f"{name}-{route}-lists.npy"
                cmd = [sys.executable, __file__, "--case", name, "--seed", str(args.seed)]
                cmd += ["--child", route, str(labels), str(lists)]
                env = {**os.environ, "BENCH_KERNELS": args.kernels}
                if args.kernels == "avx2":
                    from pipeline.cpu_kernels import pin_cpu_kernels

                    pin_cpu_kernels(env)
                done = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, check=True, env=env)
                row = json.loads(done.stdout.strip().splitlines()[-1])
                exact = Path(tmp) / f"{name}-exact.npy"
                if route != "exact" and exact.exists():
                    from sklearn.metrics import adjusted_rand_score

                    row["ari_vs_exact"] = adjusted_rand_score(np.load(exact), np.load(labels))
                    mine, ref = np.load(lists), np.load(Path(tmp) / f"{name}-exact-lists.npy")
                    # Same sets: sorted rows equal (order may differ within near-ties).
                    row["lists_equal_exact"] = float(
                        (np.sort(mine, axis=1) == np.sort(ref, axis=1)).all(axis=1).mean()
                    )
                key = (name, route, args.kernels)
                results = [
                    r for r in results if (r["case"], r["route"], r.get("kernels", "native")) != key
                ]
                results.append(row)
                for key, value in row.items():
                    shown = f"{value:.4g}" if isinstance(value, float) else value
                    print(f"{name:9s} {route:5s} {key:28s} {shown}", flush=True)
                if args.json:
                    from pipeline.io import write_json

                    results.sort(
                        key=lambda r: (r["dim"], r["n"], r["route"], r.get("kernels", "native"))
                    )
                    write_json(args.json, results)
    if args.plot:
        plot(results, args.plot)
    if args.table:
        print(table(results))


if __name__ == "__main__":
    main()
