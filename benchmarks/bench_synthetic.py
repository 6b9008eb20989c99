"""Render time of the embedded synthetic world at its default sizes, and its baselines.

Renders each synthetic layout (Market-1501, CUHK-SYSU, SYSU-MM01, RegDB) with
the sizes of conf/'s ``datasets.synthetic_*`` entries (what params.yaml carries;
the renderer has no defaults) into a temporary folder, in one process, and prints per dataset the
wall and CPU time, what was written and the time per image. The design budget
is under a minute for all three on one core.

With ``--baselines`` it also scores, on the rendered test sets, random features
and the colour histogram (``pipeline.models.color_histogram``): Market-1501
query -> gallery, SYSU-MM01 infrared -> visible (all cameras, every image) and,
for reference, SYSU-MM01 indoor visible (cameras 1, 2) -> outdoor visible (4, 5).

Usage: ``python benchmarks/bench_synthetic.py [--layouts ...] [--seed 0] [--baselines]``
"""

from __future__ import annotations

import argparse
import re
import tempfile
import time
from pathlib import Path

import numpy as np

from pipeline.compose import compose_params
from pipeline.data.synthetic import LAYOUTS, render
from pipeline.evaluation.reid import evaluate_rank
from pipeline.models.color_histogram import color_histogram_features

# Counts that are images (the rest are identities, boxes, queries).
IMAGE_KEYS = {
    "market1501": ("train", "query", "gallery", "distractors", "junk"),
    "cuhk_sysu": ("train_scenes", "test_scenes"),
    "sysu_mm01": ("train_visible", "train_infrared", "test_visible", "test_infrared"),
}
MARKET_NAME = re.compile(r"(-?\d+)_c(\d)s\d+_\d+_\d+\.jpg")
Split = tuple[list[Path], np.ndarray, np.ndarray]


def market_split(folder: Path) -> Split:
    """Images of one Market folder, junk left out, with pids and cameras."""
    items = [
        (p, *map(int, MARKET_NAME.fullmatch(p.name).groups())) for p in sorted(folder.glob("*.jpg"))
    ]
    items = [item for item in items if item[1] >= 0]
    return [i[0] for i in items], np.array([i[1] for i in items]), np.array([i[2] for i in items])


def sysu_split(root: Path, cameras: tuple[int, ...]) -> Split:
    """Test-identity images of some SYSU cameras, with pids and cameras."""
    test_ids = {int(v) for v in (root / "exp" / "test_id.txt").read_text().split(",")}
    items = [
        (p, int(p.parent.name), cam)
        for cam in cameras
        for p in sorted((root / f"cam{cam}").glob("*/*.jpg"))
        if int(p.parent.name) in test_ids
    ]
    return [i[0] for i in items], np.array([i[1] for i in items]), np.array([i[2] for i in items])


def score(query: Split, gallery: Split, features: str, seed: int = 0) -> tuple[float, float]:
    """(mAP, rank-1) of random or colour-histogram features, Euclidean distance."""
    if features == "random":
        rng = np.random.default_rng(seed)
        q, g = rng.normal(size=(len(query[0]), 64)), rng.normal(size=(len(gallery[0]), 64))
    else:
        q, g = color_histogram_features(query[0]), color_histogram_features(gallery[0])
    dist = (q**2).sum(1)[:, None] + (g**2).sum(1)[None, :] - 2 * q @ g.T
    result = evaluate_rank(dist, query[1], gallery[1], query[2], gallery[2], max_rank=50)
    return float(result["mAP"]), float(result["cmc"][0])


def baselines(root: Path, layout: str) -> None:
    if layout == "market1501":
        pairs = {
            "query->gallery": (
                market_split(root / "query"),
                market_split(root / "bounding_box_test"),
            )
        }
    elif layout == "sysu_mm01":
        pairs = {
            "infrared->visible": (sysu_split(root, (3, 6)), sysu_split(root, (1, 2, 4, 5))),
            "indoor->outdoor visible": (sysu_split(root, (1, 2)), sysu_split(root, (4, 5))),
        }
    else:
        return
    for name, (query, gallery) in pairs.items():
        rand = np.mean([score(query, gallery, "random", seed) for seed in range(5)], axis=0)
        hist = score(query, gallery, "histogram")
        print(
            f"{'':>13}{name}: {len(query[0])} queries x {len(gallery[0])} gallery; "
            f"random mAP {rand[0]:.3f} rank-1 {rand[1]:.3f}; "
            f"histogram mAP {hist[0]:.3f} rank-1 {hist[1]:.3f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layouts", nargs="+", default=list(LAYOUTS), choices=LAYOUTS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--baselines", action="store_true", help="score random and histogram features"
    )
    args = parser.parse_args()
    # The default worlds: conf/'s synthetic entries (the renderer has no defaults).
    conf = Path(__file__).resolve().parents[1] / "conf"
    entries = compose_params([], conf)["datasets"].values()
    sizes = {e["layout"]: e["render"] for e in entries if e["source"] == "synthetic"}
    total_wall = total_cpu = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        for layout in args.layouts:
            out = Path(tmp) / layout
            wall, cpu = time.perf_counter(), time.process_time()
            counts = render(layout, {**sizes[layout], "seed": args.seed}, out)
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
            total_wall, total_cpu = total_wall + wall, total_cpu + cpu
            images = sum(counts[k] for k in IMAGE_KEYS[layout])
            size = sum(p.stat().st_size for p in out.rglob("*") if p.is_file())
            print(
                f"{layout:>11}: {wall:6.2f} s wall {cpu:6.2f} s CPU  {images:5d} images  "
                f"{1000 * cpu / images:5.2f} ms CPU/image  {size / 2**20:5.1f} MiB"
            )
            print(f"{'':>13}{counts}")
            if args.baselines:
                baselines(out, layout)
    print(f"{'total':>11}: {total_wall:6.2f} s wall {total_cpu:6.2f} s CPU")


if __name__ == "__main__":
    main()
