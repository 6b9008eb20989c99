"""DCLNet's view of a processed visible-infrared dataset (``index.csv``).

Rows of the common index (docs/design.md, "Re-id index").

Training uses the ``train`` rows of both modalities with identities renumbered
0..C-1 (sorted pids); RGB images get random grayscale, both get flip and random
erasing (no pad-and-crop: the official script leaves it out); identities held
out for validation are left out of training and scored on their own ``train``
rows (``load_validation_rows``). Evaluation encodes
``query`` rows (infrared in SYSU-MM01 and RegDB) with the infrared stream and
``gallery`` rows (visible) with the visible stream. Training and evaluation walk
the same units (``training_units``): one model for SYSU-MM01, one per RegDB split.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pipeline.data.reid_dataset import ReidImageDataset
from pipeline.data.reid_index import IndexRow, read_index
from pipeline.data.transforms import build_test_transform, build_train_transform
from pipeline.models.dclnet.settings import DclnetSettings, InputSettings


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


def split_validation_ids(
    rows: Sequence[IndexRow],
    num_ids: int,
    seed: int,
    source: str = "index",
    named: Sequence[int] = (),
) -> tuple[int, ...]:
    """Draw ``num_ids`` identities of the ``train`` rows to hold out for validation.

    Only identities with images in both modalities can be scored (infrared query,
    visible gallery), so the draw is among those; it depends on the pids and
    ``seed`` only (not on row order). At least two training identities must remain.
    ``named`` pids, when given, are held out instead of a draw.

    Returns:
        The held-out pids, sorted (empty when ``num_ids`` is 0).

    Raises:
        ValueError: more identities asked for than the data can give, or a named
            pid that is not a train identity with both modalities.
    """
    if num_ids == 0:
        return ()
    train = [r for r in rows if r.split == "train"]
    all_pids = {r.pid for r in train}
    both = sorted(
        {r.pid for r in train if r.modality == "visible"}
        & {r.pid for r in train if r.modality == "infrared"}
    )
    if named:
        bad = sorted(set(named) - set(both))
        if bad:
            raise ValueError(
                f"dclnet.validation.pids: {bad} are not train identities of {source} "
                "with visible and infrared images"
            )
        both = sorted(named)
    if num_ids > len(both) or len(all_pids) - num_ids < 2:
        raise ValueError(
            f"dclnet.validation.ids: {num_ids} held-out identities asked for, but {source} has "
            f"{len(both)} train identities with both modalities ({len(all_pids)} in all; "
            "at least 2 must stay for training)"
        )
    order = np.random.default_rng(seed).permutation(len(both))
    return tuple(sorted(both[i] for i in order[:num_ids]))


def load_train_set(
    index_csv: str | Path,
    cfg: InputSettings,
    root: str | Path = ".",
    exclude: Iterable[int] = (),
) -> TrainSet:
    """The ``train`` split of ``index_csv`` as a training set, without the pids in ``exclude``.

    Raises:
        ValueError: no training row, or no identity seen in both modalities.
    """
    excluded = set(exclude)
    rows = [r for r in read_index(index_csv) if r.split == "train" and r.pid not in excluded]
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


def load_validation_rows(index_csv: str | Path, pids: Iterable[int]) -> dict[str, list[IndexRow]]:
    """The held-out identities' ``train`` rows: infrared as ``query``, visible as ``gallery``.

    Cameras stay as they are, so the SYSU-MM01 protocol (infrared cameras 3 and 6
    against visible cameras 1, 2, 4, 5) applies unchanged. No test row is read.

    Raises:
        ValueError: a held-out identity has no training row.
    """
    wanted = set(pids)
    rows = [r for r in read_index(index_csv) if r.split == "train" and r.pid in wanted]
    missing = sorted(wanted - {r.pid for r in rows})
    if missing:
        raise ValueError(f"{index_csv}: held-out validation ids {missing} have no 'train' rows")
    return {
        "query": [r for r in rows if r.modality == "infrared"],
        "gallery": [r for r in rows if r.modality == "visible"],
    }


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


@dataclass(frozen=True)
class TrainUnit:
    """One model to train: its name, index file and output locations."""

    name: str  # "main" or "split_<k>"
    index_csv: Path
    model_path: str  # relative to the model dir
    plots_subdir: str  # relative to the plots dir ("" = top level)


def training_units(settings: DclnetSettings, layout: str, data_dir: Path) -> list[TrainUnit]:
    """SYSU-MM01: one unit over ``index.csv``; RegDB: one per split in ``splits/<k>/``."""
    if layout == "regdb":
        return [
            TrainUnit(
                f"split_{k}",
                data_dir / "splits" / str(k) / "index.csv",
                f"splits/{k}/model.pt",
                f"split_{k}",
            )
            for k in settings.splits
        ]
    return [TrainUnit("main", data_dir / "index.csv", "model.pt", "")]
