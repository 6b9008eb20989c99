"""A tiny visible-infrared world for the DCLNet tests, drawn here (no renderer needed).

The dataset is written in the processed SYSU-MM01 form: ``index.csv`` with train
rows of both modalities, infrared test rows as ``query`` (cameras 3, 6) and
visible test rows as ``gallery`` (cameras 1, 2, 4, 5). Each identity is a
figure with its own upper/lower body shades; the "infrared" image shows the same
layout in gray levels unrelated to the colours, so cross-modality matching must
learn layout and brightness, not hue.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from pipeline.data.reid_index import IndexRow, write_index
from tests.real_config import merged, real_params, track_section

# The real section (conf/dclnet, SYSU-MM01 option: the paper's settings), shrunk.
TINY_CHANGES = {
    "dataset": "tiny_sysu",
    "model": {"depth": 18, "width": 8, "pretrained": None},
    "input": {"height": 96, "width": 48},
    "sampler": {"ids_per_batch": 2, "images_per_id": 2},
    "train": {"epochs": 2, "iters_per_epoch": 2, "warmup_epochs": 1, "milestones": [1]},
    "eval": {"batch_size": 16, "trials": 2, "ranked_lists": 2},
}
TINY_SETTINGS = track_section("dclnet", changes=TINY_CHANGES)


def tiny_params(dataset: str = "tiny_sysu", layout: str = "sysu_mm01", **dclnet) -> dict:
    """The real params with a tiny ``dclnet`` section (``dclnet`` merged into it) and one
    more synthetic dataset entry, the tiny one."""
    params = real_params()
    params["runtime"] = merged(params["runtime"], {"threads": 1})
    params["datasets"][dataset] = {"source": "synthetic", "layout": layout, "render": {}}
    params["dclnet"] = merged(TINY_SETTINGS, {"dataset": dataset, **dclnet})
    return params


def _person(rng: np.random.Generator, pid: int, infrared: bool, size=(24, 48)) -> Image.Image:
    """A 24x48 figure: head, torso and legs on a noisy background."""
    w, h = size
    ident = np.random.default_rng(1000 + pid)
    upper, lower = ident.integers(30, 226, size=(2, 3))
    levels = ident.integers(60, 250, size=2)  # emissive levels unrelated to the RGB shades
    img = rng.integers(0, 60, size=(h, w, 3)).astype(np.uint8)
    x0 = int(rng.integers(3, 6))
    if infrared:
        img[:, :] = img[:, :, :1]
        img[4:12, x0 + 5 : x0 + 12] = 240
        img[12:28, x0 : x0 + 16] = levels[0]
        img[28:46, x0 + 2 : x0 + 14] = levels[1]
    else:
        img[4:12, x0 + 5 : x0 + 12] = (220, 180, 150)
        img[12:28, x0 : x0 + 16] = upper
        img[28:46, x0 + 2 : x0 + 14] = lower
    return Image.fromarray(img)


def write_tiny_vi_dataset(
    root: Path, train_ids: int = 6, test_ids: int = 4, per_camera: int = 2, seed: int = 0
) -> Path:
    """Images under ``root/images`` and ``root/processed/index.csv`` (paths relative to root)."""
    rng = np.random.default_rng(seed)
    rows = []
    for pid in range(1, train_ids + test_ids + 1):
        split_train = pid <= train_ids
        for camera in (1, 2, 3, 4, 5, 6):
            infrared = camera in (3, 6)
            for n in range(per_camera):
                rel = f"images/cam{camera}/{pid:04d}/{n:04d}.jpg"
                (root / rel).parent.mkdir(parents=True, exist_ok=True)
                _person(rng, pid, infrared).save(root / rel, quality=95)
                split = "train" if split_train else ("query" if infrared else "gallery")
                rows.append(
                    IndexRow(rel, pid, camera, split, "infrared" if infrared else "visible")
                )
    index = root / "processed" / "index.csv"
    write_index(index, rows)
    return index


def write_tiny_regdb_dataset(
    root: Path, splits=(1, 2), ids: int = 8, per_modality: int = 3
) -> Path:
    """RegDB-form ``processed/splits/<k>/index.csv``: half the ids train, half test.

    Split k rotates which identities are for training, like RegDB's random splits.
    Test visible rows are ``query`` (camera 1), test thermal rows ``gallery`` (camera 2).
    """
    rng = np.random.default_rng(0)
    paths = {}
    for pid in range(1, ids + 1):
        for infrared in (False, True):
            for n in range(per_modality):
                rel = f"images/{'Thermal' if infrared else 'Visible'}/{pid}/{n}.png"
                (root / rel).parent.mkdir(parents=True, exist_ok=True)
                _person(rng, pid, infrared).save(root / rel)
                paths[(pid, infrared, n)] = rel
    for k in splits:
        train = {(pid + k) % ids + 1 for pid in range(ids // 2)}
        rows = []
        for (pid, infrared, _), rel in paths.items():
            modality, camera = ("infrared", 2) if infrared else ("visible", 1)
            split = "train" if pid in train else ("gallery" if infrared else "query")
            rows.append(IndexRow(rel, pid, camera, split, modality))
        write_index(root / "processed" / "splits" / str(k) / "index.csv", rows)
    return root / "processed"
