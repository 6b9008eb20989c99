"""DICL speed on CPU: training iterations/s and inference images/s.

Two configurations on random images with random person boxes (no data needed):

* ``synthetic``: conf/'s synthetic_cuhk_sysu option (its sizes and scales);
* ``paper``: the paper's CUHK-SYSU model (ResNet-50, 14x6 RoIs, 224x96 crops,
  128 RoIs per image) at the test scale 1500x900, batch 1 (CPU).

Usage (from the repository root)::

    python -m benchmarks.bench_dicl [--iters 3] [--threads 1] [--only synthetic|paper]

Prints one table row per configuration with the load average (the machine is shared).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import torch
from detectron2.modeling import build_model
from detectron2.structures import Boxes, Instances
from detectron2.utils.events import EventStorage

import pipeline.models.dicl  # noqa: F401  (registration)
from pipeline.compose import compose_params
from pipeline.models.dicl.config import build_cfg
from pipeline.models.dicl.settings import DiclSettings, load_settings
from pipeline.params import RuntimeSettings, validate
from pipeline.runtime import setup

CONF = Path(__file__).resolve().parents[1] / "conf"


def _settings(profile: str) -> tuple[DiclSettings, tuple[int, int]]:
    dataset = "cuhk_sysu" if profile == "paper" else "synthetic_cuhk_sysu"
    settings, _ = load_settings(compose_params([f"dicl/dataset={dataset}"], CONF))
    if profile == "paper":
        # build_model alone loads no weights: the benchmark runs random ones.
        return settings, (900, 1500)
    long_side, short_side = settings.test.scale
    return settings, (short_side, long_side)


def _batch(size: tuple[int, int], count: int, people: int, slots: int) -> list[dict]:
    h, w = size
    out = []
    for _ in range(count):
        xy = torch.rand(people, 2) * torch.tensor([w * 0.8, h * 0.5])
        wh = torch.stack([torch.full((people,), w * 0.08), torch.full((people,), h * 0.4)], 1)
        inst = Instances((h, w))
        inst.gt_boxes = Boxes(torch.cat([xy, xy + wh], 1))
        inst.gt_classes = torch.zeros(people, dtype=torch.long)
        inst.gt_memory_index = torch.randint(0, slots, (people,))
        image = torch.randint(0, 256, (3, h, w), dtype=torch.uint8)
        out.append({"image": image, "instances": inst, "height": h, "width": w})
    return out


def bench(profile: str, iters: int) -> dict[str, float]:
    settings, size = _settings(profile)
    slots = 1000
    cfg = build_cfg(settings, iters_per_epoch=1, memory_size=slots)
    torch.manual_seed(0)
    model = build_model(cfg)
    model.memory.initialize(torch.randn(slots, settings.model.head.embedding_dim))
    batch_size = settings.train.ims_per_batch if profile == "synthetic" else 1
    batch = _batch(size, batch_size, people=4, slots=slots)
    optimizer = torch.optim.SGD([p for p in model.parameters() if p.requires_grad], lr=1e-4)
    model.train()
    with EventStorage():
        model(batch)  # warm-up
        start = time.perf_counter()
        for _ in range(iters):
            losses = model(batch)
            optimizer.zero_grad()
            sum(losses.values()).backward()
            optimizer.step()
        train_s = (time.perf_counter() - start) / iters
    model.eval()
    inputs = [{"image": b["image"], "height": size[0], "width": size[1]} for b in batch[:1]]
    with torch.no_grad():
        model(inputs)
        start = time.perf_counter()
        for _ in range(iters):
            model(inputs)
        infer_s = (time.perf_counter() - start) / iters
    return {
        "train_it_per_s": 1.0 / train_s,
        "train_img_per_s": batch_size / train_s,
        "infer_img_per_s": 1.0 / infer_s,
        "batch": batch_size,
        "height": size[0],
        "width": size[1],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--iters", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--only", choices=["synthetic", "paper"])
    args = parser.parse_args()
    # As the stages run: threads, deterministic algorithms, seeds (pipeline.runtime).
    runtime = {**compose_params([], CONF)["runtime"], "threads": args.threads, "device": "cpu"}
    setup(validate(RuntimeSettings, runtime, "runtime"), 0)
    print(f"threads={args.threads} load average at start: {os.getloadavg()}")
    print(
        f"{'config':<10} {'size':>10} {'batch':>5} {'train it/s':>11} {'train img/s':>12} {'infer img/s':>12}"
    )
    for profile in [args.only] if args.only else ["synthetic", "paper"]:
        r = bench(profile, args.iters)
        print(
            f"{profile:<10} {r['width']:>4}x{r['height']:<5} {r['batch']:>5} "
            f"{r['train_it_per_s']:>11.3f} {r['train_img_per_s']:>12.3f} {r['infer_img_per_s']:>12.3f}"
        )
    print(f"load average at end: {os.getloadavg()}")


if __name__ == "__main__":
    main()
