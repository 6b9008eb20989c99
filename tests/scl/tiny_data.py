"""A tiny Market-style re-id dataset in the processed format, made in a tmp dir.

Each identity is a pair of colours (upper / lower body) on a noisy background;
images differ by camera tint, position jitter and noise, so a trained model can
do better than chance and a colour histogram is not perfect. Paths in
``index.csv`` are relative to the dataset's root folder (the tests' path root).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from pipeline.data.reid_index import IndexRow, write_index
from pipeline.models.scl.settings import SCLSettings
from tests.real_config import merged, track_section

HEIGHT, WIDTH = 64, 32


def _person(rng: np.random.Generator, upper, lower, camera: int) -> np.ndarray:
    img = rng.integers(60, 120, size=(HEIGHT, WIDTH, 3)).astype(np.float64)
    dx = int(rng.integers(-3, 4))
    x0, x1 = 8 + dx, 24 + dx
    img[8:32, x0:x1] = upper
    img[32:60, x0 + 2 : x1 - 2] = lower
    img[2:8, x0 + 4 : x1 - 4] = (200, 170, 140)
    tint = np.array([1.0 + 0.08 * camera, 1.0, 1.0 - 0.06 * camera])
    img = img * tint + rng.normal(0, 12, size=img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def make_dataset(
    root: Path,
    *,
    train_ids: int = 10,
    test_ids: int = 6,
    per_camera: int = 3,
    cameras: int = 3,
    seed: int = 0,
) -> Path:
    """Write images and ``index.csv`` under ``root``; return the index path."""
    rng = np.random.default_rng(seed)
    rows: list[IndexRow] = []
    colours = rng.integers(0, 256, size=(train_ids + test_ids, 2, 3))
    for pid in range(1, train_ids + test_ids + 1):
        upper, lower = colours[pid - 1]
        for cam in range(1, cameras + 1):
            for k in range(per_camera):
                if pid <= train_ids:
                    split = "train"
                else:
                    split = "query" if (k == 0 and cam <= 2) else "gallery"
                folder = {
                    "train": "bounding_box_train",
                    "query": "query",
                    "gallery": "bounding_box_test",
                }[split]
                rel = f"images/{folder}/{pid:04d}_c{cam}s1_{k:06d}_00.jpg"
                path = root / rel
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(_person(rng, upper, lower, cam)).save(path, quality=95)
                rows.append(IndexRow(rel, pid, cam, split, "visible"))
    index = root / "index.csv"
    write_index(index, rows)
    return index


def tiny_settings(**overrides) -> SCLSettings:
    """The real section (conf/scl, Market-1501 option: the paper's settings) shrunk for
    tests: ResNet-18 from scratch at 64x32, small banks; then ``overrides`` merged in."""
    changes = {
        "dataset": "tiny",
        "mode": "cluster",
        "model": {
            "backbone": "resnet18",
            "pretrained": None,
            "last_stride": 1,
            "global_dim": 64,
            "num_stripes": 4,
            "local_dim": 16,
        },
        "data": {"height": HEIGHT, "width": WIDTH, "batch_size": 8, "test_batch_size": 32},
        "train": {"epochs": 3, "lr": 0.01, "warmup_epochs": 1},
        "selection": {"num_positives": 3, "num_negatives": 20},
        "clustering": {"k1": 6, "k2": 3, "eps": 0.6, "min_samples": 2},
        "eval": {"ranked_lists": 2, "max_rank": 10},
    }
    base = track_section("scl", changes=changes)
    return SCLSettings.model_validate(merged(base, overrides))
