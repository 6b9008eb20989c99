"""DCLNet's view of a processed visible-infrared dataset (``index.csv``, DESIGN.md contracts).

Training uses the ``train`` rows of both modalities with identities renumbered
0..C-1 (sorted pids); RGB images get random grayscale, both get flip and random
erasing (no pad-and-crop: the official script leaves it out). Evaluation encodes
``query`` rows (infrared in SYSU-MM01 and RegDB) with the infrared stream and
``gallery`` rows (visible) with the visible stream.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.data.reid_dataset import ReidImageDataset
from pipeline.data.reid_index import IndexRow, read_index
from pipeline.data.transforms import build_test_transform, build_train_transform
from pipeline.models.dclnet.settings import InputSettings


@dataclass(frozen=True)
class TrainSet:
    """Training rows (pids replaced by contiguous labels) and what the sampler needs."""

    dataset: ReidImageDataset
    labels: np.ndarray  # (N,) contiguous identity label per item
    modalities: np.ndarray  # (N,) 0 visible, 1 infrared
    pids: tuple[int, ...]  # original pid of each label

    @property
    def num_classes(self) -> int:
        return len(self.pids)


def train_transforms(cfg: InputSettings) -> dict:
    """One transform per modality: random grayscale on visible images only."""
    common = {"flip_p": cfg.flip_p, "pad": 0, "erasing_p": cfg.erasing_p}
    return {
        "visible": build_train_transform(
            cfg.height, cfg.width, grayscale_p=cfg.grayscale_p, **common
        ),
        "infrared": build_train_transform(cfg.height, cfg.width, grayscale_p=0.0, **common),
    }


def load_train_set(index_csv: str | Path, cfg: InputSettings, root: str | Path = ".") -> TrainSet:
    """The ``train`` split of ``index_csv`` as a training set.

    Raises:
        ValueError: no training row, or no identity seen in both modalities.
    """
    rows = [r for r in read_index(index_csv) if r.split == "train"]
    if not rows:
        raise ValueError(f"{index_csv}: no 'train' rows")
    both = {r.pid for r in rows if r.modality == "visible"} & {
        r.pid for r in rows if r.modality == "infrared"
    }
    if not both:
        raise ValueError(f"{index_csv}: no training identity has visible and infrared images")
    pids = tuple(sorted({r.pid for r in rows}))
    label_of = {pid: i for i, pid in enumerate(pids)}
    relabelled = [r._replace(pid=label_of[r.pid]) for r in rows]
    dataset = ReidImageDataset(relabelled, root=root, transform=train_transforms(cfg))
    return TrainSet(dataset, dataset.pids.copy(), dataset.modalities.copy(), pids)


def load_test_rows(index_csv: str | Path) -> dict[str, list[IndexRow]]:
    """``query`` and ``gallery`` rows of ``index_csv``.

    Raises:
        ValueError: a split is empty.
    """
    rows = read_index(index_csv)
    out = {split: [r for r in rows if r.split == split] for split in ("query", "gallery")}
    for split, chosen in out.items():
        if not chosen:
            raise ValueError(f"{index_csv}: no '{split}' rows")
    return out


def eval_dataset(
    rows: list[IndexRow], cfg: InputSettings, root: str | Path = "."
) -> ReidImageDataset:
    """Rows resized and normalised, nothing random."""
    return ReidImageDataset(rows, root=root, transform=build_test_transform(cfg.height, cfg.width))
