"""SCL memory banks and their update rules (Pang et al., ACM TOMM 2022).

Three instance-level banks, one slot per training image, as the official code
keeps them (``engine/memory_bank.py``, ``engine/loss.py``):

- global bank (N x Dg) and local bank (N x S x Dl): the distance banks used to
  select positives and negatives; after each step the batch's own slots become
  ``normalize(m * old + (1 - m) * new)`` with m = 0.5;
- mixture bank (N x D, D = Dg = S * Dl): what the contrastive loss compares
  against. It starts at zero; every *positive* slot of a sample (itself and its
  selected neighbours) becomes ``normalize((slot + x) / 2)``, once with the global
  feature and once with the concatenated stripes, hence "mixture".

The cluster mode adds a cluster-level memory (K x Dg and K x S*Dl), re-initialised
from the cluster centroids at every pseudo-label round and updated with the
same momentum rule for each sample's own cluster.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def momentum_update(
    bank: torch.Tensor, indices: torch.Tensor, values: torch.Tensor, momentum: float
) -> None:
    """``bank[i] = normalize(momentum * bank[i] + (1 - momentum) * v)`` for each pair, in order.

    Pairs are applied one after another, so an index listed twice is updated
    twice (the official per-sample loop); ``values`` may have any norm.

    Args:
        bank: ``(N, ...)`` slots, modified in place; each slot normalised over its last dim.
        indices: ``(M,)`` slot indices.
        values: ``(M, ...)`` new vectors, same trailing shape as a slot.
    """
    values = values.detach().to(bank.dtype)
    flat = indices.reshape(-1).tolist()
    if len(set(flat)) == len(flat):  # no repeats: one vectorised step gives the same result
        idx = indices.reshape(-1)
        bank[idx] = F.normalize(momentum * bank[idx] + (1.0 - momentum) * values, dim=-1)
        return
    for row, slot in enumerate(flat):
        bank[slot] = F.normalize(momentum * bank[slot] + (1.0 - momentum) * values[row], dim=-1)


class InstanceMemory:
    """Global, local and mixture banks over the N training images, with their cameras.

    Args:
        size: N.
        global_dim: Dg (also the mixture dimension).
        num_stripes: S.
        local_dim: Dl (``S * Dl == Dg``).
        cameras: ``(N,)`` camera id of each image (for the same-camera distance term).
        momentum: m of the distance-bank update (0.5 in the paper).
        device: where the banks live.
    """

    def __init__(
        self,
        *,
        size: int,
        global_dim: int,
        num_stripes: int,
        local_dim: int,
        cameras: torch.Tensor,
        momentum: float = 0.5,
        device: torch.device | str = "cpu",
    ) -> None:
        if num_stripes * local_dim != global_dim:
            raise ValueError("the mixture bank needs num_stripes * local_dim == global_dim")
        if tuple(cameras.shape) != (size,):
            raise ValueError(f"cameras: expected shape ({size},), got {tuple(cameras.shape)}")
        self.momentum = momentum
        self.global_bank = torch.zeros(size, global_dim, device=device)
        self.local_bank = torch.zeros(size, num_stripes, local_dim, device=device)
        self.mixture_bank = torch.zeros(size, global_dim, device=device)
        self.cameras = cameras.to(device=device, dtype=torch.long).clone()

    @property
    def size(self) -> int:
        return int(self.global_bank.shape[0])

    @torch.no_grad()
    def reset_distance_banks(self, global_feats: torch.Tensor, local_feats: torch.Tensor) -> None:
        """Fill the global and local banks with features of every image (index order)."""
        self.global_bank.copy_(F.normalize(global_feats.to(self.global_bank), dim=-1))
        self.local_bank.copy_(F.normalize(local_feats.to(self.local_bank), dim=-1))

    @torch.no_grad()
    def update_distance_banks(
        self, indices: torch.Tensor, global_feats: torch.Tensor, local_feats: torch.Tensor
    ) -> None:
        """The batch's own slots: ``normalize(m * old + (1 - m) * new)``."""
        momentum_update(self.global_bank, indices, global_feats, self.momentum)
        momentum_update(self.local_bank, indices, local_feats, self.momentum)

    @torch.no_grad()
    def update_mixture(
        self,
        positives: torch.Tensor,
        valid: torch.Tensor,
        global_feats: torch.Tensor,
        local_concat: torch.Tensor,
    ) -> None:
        """Every valid positive slot moves halfway to the sample's features.

        Column by column, sample by sample, first with the global features, then
        with the concatenated stripes (the order of the official code's updates).

        Args:
            positives: ``(B, P)`` positive slot indices (column 0 = the sample itself).
            valid: ``(B, P)`` which entries are real positives.
            global_feats: ``(B, Dg)``.
            local_concat: ``(B, S * Dl)``.
        """
        for feats in (global_feats, local_concat):
            for col in range(positives.shape[1]):
                keep = valid[:, col]
                momentum_update(self.mixture_bank, positives[keep, col], feats[keep], 0.5)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {
            "global_bank": self.global_bank.cpu(),
            "local_bank": self.local_bank.cpu(),
            "mixture_bank": self.mixture_bank.cpu(),
        }

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        for name in ("global_bank", "local_bank", "mixture_bank"):
            current = getattr(self, name)
            if state[name].shape != current.shape:
                raise ValueError(
                    f"memory {name}: saved shape {tuple(state[name].shape)} != {tuple(current.shape)}"
                )
            current.copy_(state[name])


class ClusterMemory:
    """One global and one local-concatenation centroid per pseudo-label cluster."""

    def __init__(
        self,
        global_dim: int,
        local_concat_dim: int,
        momentum: float = 0.5,
        device: torch.device | str = "cpu",
    ) -> None:
        self.momentum = momentum
        self.device = torch.device(device)
        self.global_centroids = torch.zeros(0, global_dim, device=device)
        self.local_centroids = torch.zeros(0, local_concat_dim, device=device)

    @property
    def num_clusters(self) -> int:
        return int(self.global_centroids.shape[0])

    @torch.no_grad()
    def reset(
        self, labels: torch.Tensor, global_feats: torch.Tensor, local_concat: torch.Tensor
    ) -> None:
        """Centroids = normalised mean of each cluster's features (labels 0..K-1; -1 ignored)."""
        labels = labels.cpu().to(torch.long)
        keep = labels >= 0
        k = int(labels[keep].max().item()) + 1 if bool(keep.any()) else 0
        self.global_centroids = _centroids(labels[keep], global_feats.cpu()[keep], k).to(
            self.device
        )
        self.local_centroids = _centroids(labels[keep], local_concat.cpu()[keep], k).to(self.device)

    @torch.no_grad()
    def update(
        self, labels: torch.Tensor, global_feats: torch.Tensor, local_concat: torch.Tensor
    ) -> None:
        """Each sample's own centroid: ``normalize(m * old + (1 - m) * new)``, in batch order."""
        momentum_update(self.global_centroids, labels, global_feats, self.momentum)
        momentum_update(self.local_centroids, labels, local_concat, self.momentum)

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {
            "global_centroids": self.global_centroids.cpu(),
            "local_centroids": self.local_centroids.cpu(),
        }

    def load_state_dict(self, state: dict[str, torch.Tensor]) -> None:
        # The number of clusters changes between rounds: the saved shapes win.
        self.global_centroids = state["global_centroids"].to(self.device).clone()
        self.local_centroids = state["local_centroids"].to(self.device).clone()


def _centroids(labels: torch.Tensor, feats: torch.Tensor, k: int) -> torch.Tensor:
    # CPU float64 sums: deterministic whatever the accelerator.
    sums = torch.zeros(k, feats.shape[1], dtype=torch.float64)
    sums.index_add_(0, labels, feats.to(torch.float64))
    return F.normalize(sums, dim=1).to(feats.dtype)
