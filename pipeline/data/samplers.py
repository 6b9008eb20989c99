"""Identity-balanced batch samplers: P x K for re-id, N x K per modality for visible-infrared.

* :class:`PKBatchSampler` (Hermans et al., "In Defense of the Triplet Loss for
  Person Re-Identification", 2017): each batch holds P identities with K images
  each. Per epoch, every identity's images are shuffled and cut into groups of K
  (an identity with fewer than K images is drawn with replacement; a last group
  shorter than K is left out this epoch), and batches take one group from each of
  P identities drawn at random among those with groups left, as the strong
  baseline's ``RandomIdentitySampler`` does.
* :class:`PairedModalityBatchSampler` (AGW / DDAG's ``IdentitySampler``, used by
  DCLNet): each batch draws N identities seen in both modalities and K visible plus
  K infrared images of each. The batch lists the N x K visible indices, then the
  N x K infrared ones in the same identity order, so item ``i`` of the first half
  and item ``i`` of the second half show the same person.

Both take a label array, so pseudo labels work as well as true ones: labels < 0
(DBSCAN outliers, junk) are never drawn. Batches are a pure function of
``(seed, epoch)``: call ``set_epoch`` before each epoch. Under DDP every rank
computes the same batch list and takes every ``world``-th batch from its rank on,
so the ranks see disjoint batches and the same number of them. Use them as
``DataLoader(dataset, batch_sampler=sampler)``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np
import torch.distributed as dist
from torch.utils.data import Sampler

from pipeline.data.reid_index import MODALITIES


def _rank_and_world(rank: int | None, num_replicas: int | None) -> tuple[int, int]:
    """Explicit values, else the initialised process group's, else a single process."""
    initialised = dist.is_available() and dist.is_initialized()
    world = (
        num_replicas if num_replicas is not None else (dist.get_world_size() if initialised else 1)
    )
    rank = rank if rank is not None else (dist.get_rank() if initialised else 0)
    if world < 1 or not 0 <= rank < world:
        raise ValueError(f"rank {rank} is not in 0..{world - 1}")
    return rank, world


def _members(labels: np.ndarray) -> dict[int, np.ndarray]:
    """Indices of each label >= 0, labels in increasing order (deterministic)."""
    order = np.argsort(labels, kind="stable")
    ids, starts = np.unique(labels[order], return_index=True)
    groups = np.split(order, starts[1:])
    return {int(i): g for i, g in zip(ids, groups, strict=True) if i >= 0}


class _EpochBatchSampler(Sampler[list[int]]):
    """Shared epoch handling, caching and DDP sharding; subclasses build the global list."""

    def __init__(self, seed: int, rank: int | None, num_replicas: int | None) -> None:
        self.seed = int(seed)
        self.rank, self.world = _rank_and_world(rank, num_replicas)
        self.epoch = 0
        self._cache: tuple[int, list[list[int]]] | None = None

    def set_epoch(self, epoch: int) -> None:
        """Select the epoch whose batches the next iteration yields."""
        self.epoch = int(epoch)

    def _global_batches(self, rng: np.random.Generator) -> list[list[int]]:
        raise NotImplementedError

    def _rank_batches(self) -> list[list[int]]:
        if self._cache is None or self._cache[0] != self.epoch:
            rng = np.random.default_rng([self.seed, self.epoch])
            batches = self._global_batches(rng)
            per_rank = len(batches) // self.world
            self._cache = (self.epoch, batches[self.rank : per_rank * self.world : self.world])
        return self._cache[1]

    def __iter__(self) -> Iterator[list[int]]:
        yield from (list(b) for b in self._rank_batches())

    def __len__(self) -> int:
        return len(self._rank_batches())


class PKBatchSampler(_EpochBatchSampler):
    """Batches of ``p`` identities x ``k`` images.

    Args:
        labels: one label per dataset item (true or pseudo); < 0 is never drawn.
        p: identities per batch.
        k: images per identity.
        seed: batches are a function of (seed, epoch).
        rank, num_replicas: DDP shard; default from the process group (or 0 of 1).
    """

    def __init__(
        self,
        labels: Sequence[int] | np.ndarray,
        p: int,
        k: int,
        *,
        seed: int = 0,
        rank: int | None = None,
        num_replicas: int | None = None,
    ) -> None:
        super().__init__(seed, rank, num_replicas)
        if p < 1 or k < 1:
            raise ValueError(f"p and k must be >= 1, got p={p}, k={k}")
        self.p, self.k = p, k
        self.members = _members(np.asarray(labels, dtype=np.int64))
        if len(self.members) < p:
            raise ValueError(
                f"P x K sampling needs >= {p} identities, the labels hold {len(self.members)}"
            )

    def _global_batches(self, rng: np.random.Generator) -> list[list[int]]:
        groups: dict[int, list[np.ndarray]] = {}
        for pid, idx in self.members.items():
            if len(idx) < self.k:
                drawn = rng.choice(idx, size=self.k, replace=True)
            else:
                drawn = rng.permutation(idx)
            groups[pid] = [drawn[i : i + self.k] for i in range(0, len(drawn) - self.k + 1, self.k)]
        available = sorted(groups)
        batches = []
        while len(available) >= self.p:
            chosen = rng.choice(len(available), size=self.p, replace=False)
            picked = [available[i] for i in chosen]
            batches.append([int(j) for pid in picked for j in groups[pid].pop()])
            available = [pid for pid in available if groups[pid]]
        return batches


class PairedModalityBatchSampler(_EpochBatchSampler):
    """Batches of ``n_ids`` identities x (``k`` visible + ``k`` infrared) images.

    Args:
        labels: one label per dataset item (true or pseudo); < 0 is never drawn.
        modalities: per item, 0/"visible" or 1/"infrared".
        n_ids: identities per batch.
        k: images per identity and modality.
        seed: batches are a function of (seed, epoch).
        batches_per_epoch: default: the larger modality's image count // (n_ids * k), at
            least 1 (one pass over the larger modality, as AGW counts an epoch).
        rank, num_replicas: DDP shard; default from the process group (or 0 of 1).
    """

    def __init__(
        self,
        labels: Sequence[int] | np.ndarray,
        modalities: Sequence[int | str] | np.ndarray,
        n_ids: int,
        k: int,
        *,
        seed: int = 0,
        batches_per_epoch: int | None = None,
        rank: int | None = None,
        num_replicas: int | None = None,
    ) -> None:
        super().__init__(seed, rank, num_replicas)
        labels = np.asarray(labels, dtype=np.int64)
        codes = np.array(
            [MODALITIES.index(m) if isinstance(m, str) else int(m) for m in modalities],
            dtype=np.int64,
        )
        if codes.shape != labels.shape or not np.isin(codes, (0, 1)).all():
            raise ValueError("modalities must give 0/visible or 1/infrared for every label")
        if n_ids < 1 or k < 1:
            raise ValueError(f"n_ids and k must be >= 1, got n_ids={n_ids}, k={k}")
        self.n_ids, self.k = n_ids, k
        visible = _members(np.where(codes == 0, labels, -1))
        infrared = _members(np.where(codes == 1, labels, -1))
        self.ids = sorted(set(visible) & set(infrared))
        if len(self.ids) < n_ids:
            raise ValueError(
                f"needs >= {n_ids} identities seen in both modalities, found {len(self.ids)}"
            )
        self.pools = [{pid: members[pid] for pid in self.ids} for members in (visible, infrared)]
        if batches_per_epoch is None:
            largest = max(sum(len(v) for v in pool.values()) for pool in self.pools)
            batches_per_epoch = max(1, largest // (n_ids * k))
        self.batches_per_epoch = batches_per_epoch

    def _global_batches(self, rng: np.random.Generator) -> list[list[int]]:
        # Per identity and modality a shuffled queue, refilled when empty: every image
        # is used before any repeats.
        queues: list[dict[int, list[int]]] = [{}, {}]

        def draw(modality: int, pid: int) -> list[int]:
            queue = queues[modality].setdefault(pid, [])
            out = []
            while len(out) < self.k:
                if not queue:
                    queue.extend(int(j) for j in rng.permutation(self.pools[modality][pid]))
                out.append(queue.pop())
            return out

        batches = []
        for _ in range(self.batches_per_epoch):
            chosen = [self.ids[i] for i in rng.choice(len(self.ids), self.n_ids, replace=False)]
            vis = [j for pid in chosen for j in draw(0, pid)]
            ir = [j for pid in chosen for j in draw(1, pid)]
            batches.append(vis + ir)
        return batches
