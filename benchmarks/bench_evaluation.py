"""Time the evaluation protocols at the sizes the real datasets have.

- re-id: Market-1501's test split (3,368 queries x 15,913 gallery, 751 ids plus
  distractors, 6 cameras), from a dense float32 distance matrix;
- re-id at scale: 20,000 x 80,000 from features, distance rows made 512 at a time
  (the full matrix would take 6.4 GB); peak traced memory reported;
- CUHK-SYSU search: 2,900 queries x gallery 100 over 6,978 test images with
  ~10 synthetic detections each, plus detection recall / AP.

Data are synthetic (seeded): identities are random centres, samples noisy copies,
so match ranks spread as with a weak model. Run from the repo root:

    .venv/bin/python benchmarks/bench_evaluation.py [--skip-large]
"""

from __future__ import annotations

import argparse
import os
import resource
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import numpy as np

from pipeline.evaluation.detection import Detections, evaluate_detection
from pipeline.evaluation.person_search import SearchQuery, evaluate_search
from pipeline.evaluation.reid import evaluate_rank, iter_distance_chunks


def _timed(fn: Callable[[], Any]) -> tuple[Any, float, float]:
    """Result, wall seconds and CPU seconds (all threads) of ``fn()``."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def _identity_features(rng, pids, centres, noise):
    x = centres[pids] + noise * rng.standard_normal((pids.size, centres.shape[1]))
    return (x / np.linalg.norm(x, axis=1, keepdims=True)).astype(np.float32)


def bench_market(rng) -> dict:
    num_q, num_g, ids, dim = 3368, 15913, 751, 256
    centres = rng.standard_normal((ids + 1, dim))
    q_pids = rng.integers(1, ids + 1, num_q)
    g_pids = np.where(rng.random(num_g) < 0.15, 0, rng.integers(1, ids + 1, num_g))
    q_cams, g_cams = rng.integers(1, 7, num_q), rng.integers(1, 7, num_g)
    dist = np.concatenate(
        list(
            iter_distance_chunks(
                _identity_features(rng, q_pids, centres, 2.2),
                _identity_features(rng, g_pids, centres, 2.2),
                metric="cosine",
            )
        )
    )
    out, seconds, cpu = _timed(lambda: evaluate_rank(dist, q_pids, g_pids, q_cams, g_cams))
    return {
        "case": f"re-id Market-1501 {num_q} x {num_g} (dense float32)",
        "seconds": seconds,
        "cpu": cpu,
        "peak_mib": None,
        "result": f"mAP {out['mAP']:.4f} rank-1 {out['cmc'][0]:.4f}",
    }


def bench_large(rng) -> dict:
    num_q, num_g, ids, dim = 20000, 80000, 5000, 64
    centres = rng.standard_normal((ids, dim))
    q_pids, g_pids = rng.integers(0, ids, num_q), rng.integers(0, ids, num_g)
    q_cams, g_cams = rng.integers(0, 8, num_q), rng.integers(0, 8, num_g)
    qf = _identity_features(rng, q_pids, centres, 1.0)
    gf = _identity_features(rng, g_pids, centres, 1.0)
    tracemalloc.start()
    out, seconds, cpu = _timed(
        lambda: evaluate_rank(
            iter_distance_chunks(qf, gf, metric="cosine", chunk_size=512),
            q_pids,
            g_pids,
            q_cams,
            g_cams,
        )
    )
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {
        "case": f"re-id {num_q} x {num_g} (512-row chunks from features, incl. distances)",
        "seconds": seconds,
        "cpu": cpu,
        "peak_mib": peak / 2**20,
        "result": f"mAP {out['mAP']:.4f} rank-1 {out['cmc'][0]:.4f}",
    }


def bench_cuhk_sysu(rng) -> list[dict]:
    num_images, num_queries, gallery_size, dim = 6978, 2900, 100, 256
    centres = rng.standard_normal((num_queries, dim))
    detections, ground_truth, people = {}, {}, {}
    for image in range(num_images):
        k = int(rng.integers(5, 16))  # ~10 detections per image
        xy = rng.uniform(0, 600, (k, 2))
        boxes = np.c_[xy, xy + rng.uniform([30, 60], [120, 300], (k, 2))]
        pids = rng.integers(0, num_queries, k)
        feats = _identity_features(rng, pids, centres, 2.0)
        scores = rng.beta(5, 1.5, k)
        detections[image] = Detections(boxes + rng.normal(0, 3, boxes.shape), scores, feats)
        ground_truth[image] = boxes
        for j, pid in enumerate(pids.tolist()):
            people.setdefault(pid, []).append((image, boxes[j]))
    queries, query_feats = [], []
    for pid in range(num_queries):
        seen = people.get(pid, [])[:6]
        if len(seen) < 2:
            seen = [(int(rng.integers(num_images)), np.array([0.0, 0.0, 50.0, 120.0]))] * 2
        query_image = seen[0][0]
        targets = {image: box for image, box in seen[1:] if image != query_image}
        others = rng.choice(num_images, gallery_size + 10, replace=False)
        others = [int(i) for i in others if i != query_image and i not in targets]
        gallery = list(targets) + others[: gallery_size - len(targets)]
        queries.append(SearchQuery(query_image, gallery, targets))
        query_feats.append(_identity_features(rng, np.array([pid]), centres, 2.0)[0])
    query_feats = np.stack(query_feats)

    search, search_seconds, search_cpu = _timed(
        lambda: evaluate_search(query_feats, queries, detections)
    )
    det, det_seconds, det_cpu = _timed(lambda: evaluate_detection(ground_truth, detections))
    return [
        {
            "case": f"CUHK-SYSU search {num_queries} queries x gallery {gallery_size}",
            "seconds": search_seconds,
            "cpu": search_cpu,
            "peak_mib": None,
            "result": f"mAP {search['mAP']:.4f} top-1 {search['top1']:.4f}",
        },
        {
            "case": f"detection recall/AP over {num_images} images",
            "seconds": det_seconds,
            "cpu": det_cpu,
            "peak_mib": None,
            "result": f"recall {det['recall']:.4f} AP {det['ap']:.4f}",
        },
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-large", action="store_true", help="skip 20,000 x 80,000")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    # One generator per case: a case's data do not depend on which others run.
    rows = [bench_market(np.random.default_rng([args.seed, 0]))]
    if not args.skip_large:
        rows.append(bench_large(np.random.default_rng([args.seed, 1])))
    rows.extend(bench_cuhk_sysu(np.random.default_rng([args.seed, 2])))
    print(f"{'case':<72} {'wall s':>7} {'CPU s':>7} {'peak MiB':>9}  result")
    for row in rows:
        peak = "-" if row["peak_mib"] is None else f"{row['peak_mib']:.0f}"
        print(
            f"{row['case']:<72} {row['seconds']:>7.2f} {row['cpu']:>7.2f} {peak:>9}  "
            f"{row['result']}"
        )
    max_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"process max RSS: {max_rss:.0f} MiB; load average {load} on {os.cpu_count()} CPUs")
    print("CPU s counts every thread; wall s > CPU s means other processes held the cores.")


if __name__ == "__main__":
    main()
