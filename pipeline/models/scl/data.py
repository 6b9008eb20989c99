"""Data feeding for the SCL track: the paper's random batches, sharded for DDP.

The official code draws plain shuffled batches of 8 training images (no
identity sampler: there are no labels) with only a horizontal flip as
augmentation. In cluster mode the epoch runs over the images DBSCAN kept
(outliers dropped); ``data.sampler: pk`` draws Cluster Contrast's batches there instead
(:class:`PseudoIdentitySampler`). Every epoch's order comes from ``(seed, epoch)`` alone, so a
resumed run sees the same batches; under DDP each global batch of
``batch_size * world_size`` images is cut into one slice per rank, and an
incomplete last batch is dropped (BatchNorm cannot train on a single image).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader, Sampler

from pipeline.data.reid_dataset import ReidImageDataset
from pipeline.data.reid_index import read_index
from pipeline.data.transforms import build_test_transform, build_train_transform
from pipeline.runtime import make_generator, seed_worker


class _SlicedBatchSampler(Sampler[list[int]]):
    """Global batches of ``batch_size * world_size`` drawn from ``(seed, epoch)``; each
    rank yields its own slice of every one.

    Args:
        indices: dataset indices to draw from.
        batch_size: images per rank and step.
        seed: base seed; epoch e draws with ``seed * 100003 + e``.
        rank, world_size: this process's slice.
    """

    def __init__(
        self,
        indices: Sequence[int],
        batch_size: int,
        *,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        self.indices = np.asarray(indices, dtype=np.int64)
        self.batch_size = batch_size
        self.seed = seed
        self.rank = rank
        self.world_size = world_size
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    @property
    def global_batch(self) -> int:
        return self.batch_size * self.world_size

    def _epoch_rng(self) -> np.random.Generator:
        return np.random.default_rng(self.seed * 100003 + self.epoch)

    def _rank_slice(self, batch: np.ndarray) -> list[int]:
        """This rank's dataset indices of a global batch of positions into ``indices``."""
        mine = batch[self.rank * self.batch_size : (self.rank + 1) * self.batch_size]
        return self.indices[mine].tolist()


class ShuffledBatchSampler(_SlicedBatchSampler):
    """Shuffled fixed-size batches over a subset of dataset indices, one slice per rank.

    Args:
        indices: dataset indices to draw from (e.g. the non-outliers of a round).
        batch_size, seed, rank, world_size: as :class:`_SlicedBatchSampler`.
    """

    def __len__(self) -> int:
        return len(self.indices) // self.global_batch

    def __iter__(self) -> Iterator[list[int]]:
        order = self._epoch_rng().permutation(len(self.indices))
        step = self.global_batch
        for start in range(0, len(self) * step, step):
            yield self._rank_slice(order[start : start + step])


class PseudoIdentitySampler(_SlicedBatchSampler):
    """Batches of ``batch_size / num_instances`` pseudo identities x ``num_instances`` images.

    Cluster Contrast's sampler (alibaba/cluster-contrast-reid,
    ``clustercontrast/utils/data/sampler.py``, ``RandomMultipleGallerySampler``) in this
    project's words: one pass visits every cluster once in random order; for each, an
    anchor image is drawn, then ``num_instances - 1`` mates, from other cameras than the
    anchor's when the cluster has any, else from the whole cluster, with replacement
    when fewer than ``num_instances`` candidates exist (a single-image cluster, which
    DBSCAN with ``min_samples`` >= 2 never makes, repeats its image; the official sampler
    would put it alone in the stream). The passes are concatenated and cut into global batches
    of ``batch_size * world_size`` (an incomplete tail is dropped), each rank taking its
    slice; a new pass is drawn whenever ``iters`` batches need more (Cluster Contrast's
    ``IterLoader``). The draws come from ``(seed, epoch)`` alone, so a resumed run sees
    the same batches.

    Args:
        indices: dataset indices of the clustered images.
        labels: ``(len(indices),)`` pseudo label of each (>= 0).
        cameras: ``(len(indices),)`` camera of each.
        batch_size: images per rank and step (a multiple of ``num_instances``).
        num_instances: images per pseudo identity in a batch.
        iters: steps per epoch (0: as many as one pass fills).
        seed, rank, world_size: as :class:`_SlicedBatchSampler`.
    """

    def __init__(
        self,
        indices: Sequence[int],
        labels: Sequence[int],
        cameras: Sequence[int],
        batch_size: int,
        num_instances: int,
        *,
        iters: int,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
    ) -> None:
        if batch_size % num_instances:
            raise ValueError(
                f"batch_size {batch_size} is not a multiple of num_instances {num_instances}"
            )
        super().__init__(indices, batch_size, seed=seed, rank=rank, world_size=world_size)
        self.labels = np.asarray(labels, dtype=np.int64)
        self.cameras = np.asarray(cameras, dtype=np.int64)
        if not len(self.indices) == len(self.labels) == len(self.cameras):
            raise ValueError("indices, labels and cameras must have one entry per image")
        if (self.labels < 0).any():
            raise ValueError("PseudoIdentitySampler: outliers (label -1) must be dropped first")
        self.members = [np.flatnonzero(self.labels == k) for k in np.unique(self.labels)]
        self.num_instances = num_instances
        self.iters = iters

    def _one_pass(self, rng: np.random.Generator) -> np.ndarray:
        """Positions (into ``indices``) of one visit of every cluster, K images each."""
        chunks = []
        for cluster in rng.permutation(len(self.members)):
            members = self.members[cluster]
            anchor = members[rng.integers(len(members))]
            rest = members[members != anchor]
            other_camera = rest[self.cameras[rest] != self.cameras[anchor]]
            pool = other_camera if len(other_camera) else rest
            need = self.num_instances - 1
            if need and not len(pool):
                pool = np.array([anchor])
            # Without replacement only from num_instances candidates up, as the official
            # sampler decides (sampler.py:86, 98), so exactly K - 1 candidates repeat too.
            replace = len(pool) < self.num_instances
            mates = rng.choice(pool, size=need, replace=replace) if need else pool[:0]
            chunks.append(np.concatenate([[anchor], mates]))
        return np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int64)

    def _steps_per_pass(self) -> int:
        return len(self.members) * self.num_instances // self.global_batch

    def __len__(self) -> int:
        return self.iters if self.iters > 0 else self._steps_per_pass()

    def __iter__(self) -> Iterator[list[int]]:
        if self._steps_per_pass() == 0:
            raise ValueError(
                f"{len(self.members)} pseudo identities x {self.num_instances} images fill "
                f"no batch of {self.global_batch}"
            )
        rng = self._epoch_rng()
        step = self.global_batch
        stream = np.zeros(0, dtype=np.int64)
        for _ in range(len(self)):
            if len(stream) < step:  # a new pass; the previous pass's tail is dropped
                stream = self._one_pass(rng)
            batch, stream = stream[:step], stream[step:]
            yield self._rank_slice(batch)


def _rows(index_csv: str | Path, splits: Sequence[str], pids_in, pids_out) -> list:
    """Visible rows of ``splits``, keeping ``pids_in`` (None: all) and dropping ``pids_out``."""
    keep, drop = (None if pids_in is None else set(pids_in)), set(pids_out)
    return [
        r
        for r in read_index(index_csv)
        if r.split in splits
        and r.modality == "visible"
        and (keep is None or r.pid in keep)
        and r.pid not in drop
    ]


def train_dataset(
    index_csv: str | Path,
    root: str | Path,
    *,
    height: int,
    width: int,
    flip: float,
    pad: int = 0,
    erasing: float = 0.0,
    held_out: Sequence[int] = (),
):
    """The training split without the ``held_out`` (validation) identities: resize and
    flip (the paper's augmentation), optionally the strong baseline's pad + random crop
    and random erasing (official config values PADDING 10, RE_PROB 0.5, switched off in
    its active transform)."""
    transform = build_train_transform(height, width, flip_p=flip, pad=pad, erasing_p=erasing)
    rows = _rows(index_csv, ("train",), None, held_out)
    return ReidImageDataset(rows, root=root, transform=transform)


def test_dataset(
    index_csv: str | Path,
    root: str | Path,
    split: str | Sequence[str],
    *,
    height: int,
    width: int,
    pids: Sequence[int] | None = None,
    held_out: Sequence[int] = (),
):
    """Images of ``split`` (train, query or gallery) with the deterministic test transform,
    only those of ``pids`` when given, never those of ``held_out``."""
    splits = (split,) if isinstance(split, str) else tuple(split)
    rows = _rows(index_csv, splits, pids, held_out)
    return ReidImageDataset(rows, root=root, transform=build_test_transform(height, width))


def loader(
    dataset,
    *,
    batch_size: int | None = None,
    batch_sampler: Sampler | None = None,
    num_workers: int = 0,
    seed: int = 0,
) -> DataLoader:
    """A DataLoader whose randomness (worker seeds) comes from ``seed``, never global state."""
    kwargs = (
        {"batch_sampler": batch_sampler}
        if batch_sampler is not None
        else {
            "batch_size": batch_size,
            "shuffle": False,
        }
    )
    return DataLoader(
        dataset,
        num_workers=num_workers,
        worker_init_fn=seed_worker if num_workers > 0 else None,
        generator=make_generator(seed),
        persistent_workers=False,
        **kwargs,
    )


def shard_indices(size: int, rank: int, world_size: int) -> torch.Tensor:
    """Indices ``rank, rank + world_size, ...`` of ``range(size)``: one rank's share of a pass."""
    return torch.arange(rank, size, world_size)
