"""Benchmark of the SCL track's costs on this machine (CPU by default).

Times, with random tensors (no dataset needed):

1. one full training step (forward, selection against the memory, both losses,
   backward, SGD, memory updates) for the synthetic profile (thin ResNet-18 x0.25,
   128x64, batch 32, N = 1,116 images) and the paper's Market-1501 setting
   (ResNet-50, 256x128, batch 8, N = 12,936);
2. selection + memory updates alone at Market-1501 size (B = 8, N = 12,936,
   7 positives, 500 negatives), kNN and cluster rules;
3. a pseudo-label round's clustering (mixed embedding -> Jaccard -> DBSCAN) at
   the synthetic size;
4. the test distance (global + 8 stripes + camera term) at Market-1501 test
   size (3,368 x 15,913).

Run from the repository root: ``python benchmarks/bench_scl.py [--quick]``
(``--quick`` skips the ResNet-50 step and the Market-size test distance).
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.losses.cluster_contrast import cluster_contrast_loss  # noqa: E402
from pipeline.losses.selective_contrastive import (  # noqa: E402
    positive_weights,
    selective_contrastive_loss,
)
from pipeline.models.scl.evaluate import mixed_distance_blocks  # noqa: E402
from pipeline.models.scl.memory import ClusterMemory, InstanceMemory  # noqa: E402
from pipeline.models.scl.network import build_scl_net  # noqa: E402
from pipeline.models.scl.rounds import pseudo_labels  # noqa: E402
from pipeline.models.scl.selection import (  # noqa: E402
    select_in_clusters,
    select_knn,
    selection_distance,
)


def _clustered(n: int, ids: int, dim: int, noise: float, gen: torch.Generator) -> torch.Tensor:
    centres = F.normalize(torch.randn(ids, dim, generator=gen), dim=1)
    owner = torch.arange(n) % ids
    return F.normalize(centres[owner] + noise * torch.randn(n, dim, generator=gen), dim=1)


def _memory(n: int, stripes: int, local_dim: int, gen: torch.Generator) -> InstanceMemory:
    mem = InstanceMemory(
        size=n,
        global_dim=stripes * local_dim,
        num_stripes=stripes,
        local_dim=local_dim,
        cameras=torch.randint(1, 7, (n,), generator=gen),
    )
    mem.reset_distance_banks(
        torch.randn(n, stripes * local_dim, generator=gen),
        torch.randn(n, stripes, local_dim, generator=gen),
    )
    mem.mixture_bank.copy_(F.normalize(torch.randn(n, stripes * local_dim, generator=gen), dim=1))
    return mem


def train_step_seconds(
    backbone, size, batch, n, global_dim, local_dim, width=1.0, steps=3
) -> float:
    """Mean wall time of a full SCL step in cluster mode (after one warm-up step)."""
    gen = torch.Generator().manual_seed(0)
    net = build_scl_net(
        backbone=backbone, last_stride=1, global_dim=global_dim, num_stripes=8,
        local_dim=local_dim, input_size=size, width=width, seed=0,
    )  # fmt: skip
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9, nesterov=True)
    mem = _memory(n, 8, local_dim, gen)
    labels = torch.arange(n) % max(n // 14, 1)
    clusters = ClusterMemory(global_dim, global_dim)
    clusters.reset(labels, mem.global_bank, mem.local_bank.flatten(1))
    times = []
    for step in range(steps + 1):
        idx = torch.randperm(n, generator=gen)[:batch]
        images = torch.randn(batch, 3, *size, generator=gen)
        start = time.perf_counter()
        g, loc = net(images)
        dist = selection_distance(
            g, loc, mem.cameras[idx], mem.global_bank, mem.local_bank, mem.cameras,
            lambda_g=0.5, camera_penalty=0.05,
        )  # fmt: skip
        sel = select_in_clusters(dist, idx, labels, num_positives=7, num_negatives=500)
        w = positive_weights(sel.positive_valid, self_weight=0.5, neighbour_scale=1.75)
        lcat = loc.flatten(1)
        loss = 0.0
        for feats, cent in ((g, clusters.global_centroids), (lcat, clusters.local_centroids)):
            inst, _ = selective_contrastive_loss(
                feats, mem.mixture_bank, sel.candidates, sel.valid, w, temperature=0.1
            )
            loss = loss + 0.5 * (inst + cluster_contrast_loss(feats, cent, labels[idx]))
        opt.zero_grad()
        loss.backward()
        opt.step()
        mem.update_mixture(sel.positives, sel.positive_valid, g.detach(), lcat.detach())
        mem.update_distance_banks(idx, g.detach(), loc.detach())
        clusters.update(labels[idx], g.detach(), lcat.detach())
        if step:
            times.append(time.perf_counter() - start)
    return float(np.mean(times))


def selection_seconds(n=12936, batch=8, repeats=20) -> tuple[float, float]:
    gen = torch.Generator().manual_seed(1)
    mem = _memory(n, 8, 256, gen)
    labels = torch.arange(n) % 750
    g = F.normalize(torch.randn(batch, 2048, generator=gen), dim=1)
    loc = F.normalize(torch.randn(batch, 8, 256, generator=gen), dim=2)
    out = []
    for rule in ("knn", "cluster"):
        start = time.perf_counter()
        for r in range(repeats):
            idx = torch.arange(r * batch, (r + 1) * batch)
            dist = selection_distance(
                g, loc, mem.cameras[idx], mem.global_bank, mem.local_bank, mem.cameras,
                lambda_g=0.5, camera_penalty=0.05,
            )  # fmt: skip
            if rule == "knn":
                sel = select_knn(dist, idx, num_positives=7, num_negatives=500)
            else:
                sel = select_in_clusters(dist, idx, labels, num_positives=7, num_negatives=500)
            mem.update_mixture(sel.positives, sel.positive_valid, g, loc.flatten(1))
            mem.update_distance_banks(idx, g, loc)
        out.append((time.perf_counter() - start) / repeats)
    return out[0], out[1]


def round_seconds(n=1116, ids=80) -> tuple[float, int]:
    gen = torch.Generator().manual_seed(2)
    g = _clustered(n, ids, 256, 0.3, gen)
    loc = torch.stack([_clustered(n, ids, 32, 0.3, gen) for _ in range(8)], dim=1)
    start = time.perf_counter()
    labels = pseudo_labels(
        g, loc, lambda_g=0.5, method="dbscan", k1=30, k2=6, eps=0.6, min_samples=4
    )
    return time.perf_counter() - start, int(labels.max() + 1)


def test_distance_seconds(q=3368, gal=15913) -> float:
    gen = torch.Generator().manual_seed(3)
    query = (
        F.normalize(torch.randn(q, 2048, generator=gen), dim=1),
        F.normalize(torch.randn(q, 8, 256, generator=gen), dim=2),
    )
    gallery = (
        F.normalize(torch.randn(gal, 2048, generator=gen), dim=1),
        F.normalize(torch.randn(gal, 8, 256, generator=gen), dim=2),
    )
    start = time.perf_counter()
    rows = 0
    for block in mixed_distance_blocks(
        query, gallery, np.ones(q, dtype=np.int64), np.ones(gal, dtype=np.int64),
        lambda_g=0.5, camera_penalty=0.05,
    ):  # fmt: skip
        rows += block.shape[0]
    assert rows == q
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    t = train_step_seconds("resnet18", (128, 64), 32, 1116, 256, 32, width=0.25)
    rows.append(
        (
            "train step, synthetic profile (R18 x0.25 128x64, B=32)",
            f"{t:.3f} s",
            f"{32 / t:.1f} img/s",
        )
    )
    if not args.quick:
        t = train_step_seconds("resnet50", (256, 128), 8, 12936, 2048, 256, steps=2)
        rows.append(
            ("train step, paper Market (R50 256x128, B=8)", f"{t:.3f} s", f"{8 / t:.1f} img/s")
        )
    knn, clu = selection_seconds()
    rows.append(("selection + memory updates, N=12,936 B=8 (kNN)", f"{knn * 1000:.1f} ms", ""))
    rows.append(("selection + memory updates, N=12,936 B=8 (cluster)", f"{clu * 1000:.1f} ms", ""))
    t, k = round_seconds()
    rows.append(("pseudo-label round, N=1,116 (Jaccard + DBSCAN)", f"{t:.2f} s", f"{k} clusters"))
    if not args.quick:
        t = test_distance_seconds()
        rows.append(("test distance 3,368 x 15,913 (global + 8 stripes)", f"{t:.1f} s", ""))
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    width = max(len(r[0]) for r in rows)
    print(f"{'what':<{width}}  {'time':>10}  extra")
    for name, value, extra in rows:
        print(f"{name:<{width}}  {value:>10}  {extra}")
    print(f"peak RSS {peak:.0f} MiB, torch threads {args.threads}")


if __name__ == "__main__":
    main()
