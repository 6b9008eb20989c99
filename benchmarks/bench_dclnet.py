"""Benchmark of DCLNet's training step and its dense loss on this machine.

Times one optimisation step (forward, every loss, backward, Adam) on random
images for the synthetic profile's network and for the paper's ResNet-50 at
288x144 (smaller batch on CPU), the dense loss alone at the paper's layer1 size
(72x36 = 2,592 pixels per map), and the multi-level parser against the naive
"resize every map, then classify" it replaces. Prints a table::

    .venv/bin/python benchmarks/bench_dclnet.py [--threads 1] [--repeats 3]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from pipeline.compose import compose_params
from pipeline.losses.dense_contrastive import dense_contrastive_loss
from pipeline.models.dclnet.network import build_dclnet
from pipeline.models.dclnet.objective import DclnetObjective
from pipeline.models.dclnet.parsing import PixelClassifier
from pipeline.models.dclnet.settings import LossSettings, PapSettings, SrmSettings
from pipeline.params import validate

CONF = Path(__file__).resolve().parents[1] / "conf"


def _paper_objective() -> DclnetObjective:
    """Every loss and the SRM as conf/dclnet sets them (the settings have no defaults)."""
    section = compose_params(["dclnet/dataset=sysu_mm01"], CONF)["dclnet"]
    return DclnetObjective(
        validate(LossSettings, section["loss"], "dclnet.loss"),
        validate(PapSettings, section["pap"], "dclnet.pap"),
        validate(SrmSettings, section["srm"], "dclnet.srm"),
        parts=section["model"]["parts"],
        ids_per_batch=section["sampler"]["ids_per_batch"],
    )


def _time(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def train_step(depth: int, width: int, height: int, img_w: int, ids: int, k: int):
    model = build_dclnet(num_classes=100, seed=0, depth=depth, width=width)
    objective = _paper_objective()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-4)
    n = ids * k
    images = torch.randn(2 * n, 3, height, img_w)
    labels = torch.arange(ids).repeat_interleave(k).repeat(2)

    def step():
        out = model(images[:n], images[n:])
        total, _ = objective(out, labels, images, model.part_classifier.weight.detach())
        optimizer.zero_grad()
        total.backward()
        optimizer.step()

    return step, 2 * n


def dense_only(pairs: int, channels: int, h: int, w: int):
    vis = torch.randn(pairs, channels, h, w, requires_grad=True)
    ir = torch.randn(pairs, channels, h, w, requires_grad=True)
    gen = torch.Generator().manual_seed(0)
    y_vis = torch.randint(0, 7, (pairs, h, w), generator=gen)
    y_ir = torch.randint(0, 7, (pairs, h, w), generator=gen)

    def step():
        dense_contrastive_loss(vis, ir, y_vis, y_ir, 0.05).backward()

    return step


def parser_pair(batch: int):
    channels = (64, 256, 512, 1024, 2048)
    sizes = ((72, 36), (72, 36), (36, 18), (18, 9), (18, 9))
    maps = [torch.randn(batch, c, *s) for c, s in zip(channels, sizes, strict=True)]
    clf = PixelClassifier(channels, parts=6)

    def factored():
        clf(maps, (72, 36)).sum().backward()

    def naive():
        full = torch.cat([F.interpolate(m, size=(72, 36), mode="bilinear") for m in maps], 1)
        torch.einsum("kc,bchw->bkhw", clf.weight, full).sum().backward()

    return factored, naive


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rows = []
    for name, cfg in (
        ("train step, synthetic profile (R18 w32, 128x64, 4x4 ids)", (18, 32, 128, 64, 4, 4)),
        ("train step, paper net (R50, 288x144, 2x2 ids on CPU)", (50, 64, 288, 144, 2, 2)),
    ):
        step, images = train_step(*cfg)
        seconds = _time(step, args.repeats)
        rows.append((name, f"{seconds:.3f} s", f"{images / seconds:.1f} img/s"))
    seconds = _time(dense_only(8, 256, 72, 36), args.repeats)
    rows.append(("dense loss fwd+bwd, 8 pairs of 256x72x36 maps", f"{seconds:.3f} s", ""))
    factored, naive = parser_pair(2)
    rows.append(
        (
            "parser, 2 images at 72x36: factored (ours)",
            f"{_time(factored, args.repeats):.3f} s",
            f"skips a {2 * 3904 * 72 * 36 * 4 / 2**20:.0f} MiB concatenated map",
        )
    )
    rows.append(
        (
            "parser, 2 images at 72x36: resize-then-classify",
            f"{_time(naive, args.repeats):.3f} s",
            "",
        )
    )
    width = max(len(r[0]) for r in rows)
    print(f"torch {torch.__version__}, {args.threads} thread(s)")
    for name, t, extra in rows:
        print(f"{name:<{width}}  {t:>9}  {extra}")


if __name__ == "__main__":
    main()
