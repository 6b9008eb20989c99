"""A torch dataset over rows of the common re-id index (``index.csv``).

Each item is a :class:`ReidSample` (image tensor, pid, camera, index, modality);
``index`` is the row's position in the dataset, so a training loop can look up
per-image state kept outside the dataset (pseudo labels, memory-bank slots).
Modality is 0 for visible and 1 for infrared. Visible-infrared training (DCLNet)
gives one transform per modality (random grayscale on RGB only).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
import torch
from torch.utils.data import Dataset
from torchvision.transforms import v2

from pipeline.data.images import load_rgb
from pipeline.data.reid_index import MODALITIES, IndexRow, read_index

MODALITY_CODES = {name: code for code, name in enumerate(MODALITIES)}  # visible 0, infrared 1

_TO_TENSOR = v2.Compose([v2.ToImage(), v2.ToDtype(torch.float32, scale=True)])


class ReidSample(NamedTuple):
    """One item; the DataLoader's default collate stacks each field over a batch."""

    image: torch.Tensor
    pid: int
    camera: int
    index: int
    modality: int


class ReidImageDataset(Dataset):
    """Images of index rows, decoded and transformed on access.

    Args:
        rows: index rows, in the order items are numbered.
        root: the folder row paths are relative to (the repository root).
        transform: one callable for every image, or a mapping modality name -> callable;
            None gives the un-normalised float tensor in [0, 1].
    """

    def __init__(
        self,
        rows: Sequence[IndexRow],
        root: str | Path = ".",
        transform: Callable | Mapping[str, Callable] | None = None,
    ) -> None:
        self.rows = list(rows)
        self.root = Path(root)
        if isinstance(transform, Mapping):
            missing = sorted({r.modality for r in self.rows} - set(transform))
            if missing:
                raise ValueError(f"no transform given for modality {missing}")
        self.transform = transform
        self.pids = np.array([r.pid for r in self.rows], dtype=np.int64)
        self.cameras = np.array([r.camera for r in self.rows], dtype=np.int64)
        self.modalities = np.array([MODALITY_CODES[r.modality] for r in self.rows], dtype=np.int64)

    @classmethod
    def from_index(
        cls,
        index_csv: str | Path,
        *,
        splits: Iterable[str] = ("train",),
        modalities: Iterable[str] = MODALITIES,
        root: str | Path = ".",
        transform: Callable | Mapping[str, Callable] | None = None,
    ) -> ReidImageDataset:
        """The rows of ``index_csv`` in the given splits and modalities, in file order.

        Raises:
            DataError: the index file is missing or malformed.
        """
        splits, modalities = set(splits), set(modalities)
        rows = [r for r in read_index(index_csv) if r.split in splits and r.modality in modalities]
        return cls(rows, root=root, transform=transform)

    @property
    def paths(self) -> list[str]:
        return [r.path for r in self.rows]

    def __len__(self) -> int:
        return len(self.rows)

    def _transform_for(self, modality: str) -> Callable[[Any], torch.Tensor]:
        if self.transform is None:
            return _TO_TENSOR
        if isinstance(self.transform, Mapping):
            return self.transform[modality]
        return self.transform

    def __getitem__(self, index: int) -> ReidSample:
        row = self.rows[index]
        image = self._transform_for(row.modality)(load_rgb(self.root / row.path))
        return ReidSample(image, row.pid, row.camera, index, MODALITY_CODES[row.modality])
