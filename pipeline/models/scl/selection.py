"""Selecting positives and negatives for selective contrastive learning.

Pang et al., ACM TOMM 2022, as the official ``MemoryBank.get_soft_label`` does it:

- distance of a batch sample to every memory slot =
  ``lambda_g * |g - G|^2 + (1 - lambda_g) * mean_s |l_s - L_s|^2 + c * [same camera]``
  (squared Euclidean on unit vectors; c = 0.05 pushes same-camera images down the
  list so cross-camera neighbours are preferred);
- kNN mode: positives = the sample itself + its P nearest slots, negatives = the
  next Q ranks (P = 7, Q = 500);
- warm-up (the first epochs): the sample itself is the only positive and the
  negatives are P + Q random other slots;
- cluster mode (the project's DBSCAN rounds): positives = the sample itself + its
  P nearest slots *of the same pseudo-label cluster*; negatives = the Q nearest slots
  of any other cluster or outliers: hard negatives chosen by the same distance.

A :class:`Selection` lists candidate slots per sample: the first ``num_positive``
columns are positives (column 0 the sample itself), the rest negatives; ``valid``
masks padding where fewer candidates exist.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Selection:
    """Candidate memory slots per batch sample.

    Attributes:
        candidates: ``(B, P + Q)`` slot indices, positives first.
        valid: ``(B, P + Q)`` false on padding.
        num_positive: P (including the sample itself at column 0).
    """

    candidates: torch.Tensor
    valid: torch.Tensor
    num_positive: int

    @property
    def positives(self) -> torch.Tensor:
        return self.candidates[:, : self.num_positive]

    @property
    def positive_valid(self) -> torch.Tensor:
        return self.valid[:, : self.num_positive]


def selection_distance(
    global_feats: torch.Tensor,
    local_feats: torch.Tensor,
    cameras: torch.Tensor,
    global_bank: torch.Tensor,
    local_bank: torch.Tensor,
    bank_cameras: torch.Tensor,
    *,
    lambda_g: float,
    camera_penalty: float,
) -> torch.Tensor:
    """The paper's mixed distance from each batch sample to each memory slot.

    Args:
        global_feats: ``(B, Dg)`` unit vectors.
        local_feats: ``(B, S, Dl)`` unit vectors.
        cameras: ``(B,)`` camera ids of the batch.
        global_bank: ``(N, Dg)``; local_bank: ``(N, S, Dl)``; bank_cameras: ``(N,)``.

    Returns:
        ``(B, N)`` distances.
    """
    g = global_feats.detach().to(global_bank)
    loc = local_feats.detach().to(local_bank)
    # mean_s |l_s - L_s|^2 = |concat(l) - concat(L)|^2 / S: one product for all stripes.
    stripes = loc.shape[1]
    d_global = _squared_distance(g, global_bank)
    d_local = _squared_distance(loc.flatten(1), local_bank.flatten(1)) / stripes
    same_camera = (cameras.to(bank_cameras)[:, None] == bank_cameras[None, :]).to(d_global)
    return lambda_g * d_global + (1.0 - lambda_g) * d_local + camera_penalty * same_camera


def _squared_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``|a_i - b_j|^2`` computed exactly from norms, so zero (unvisited) slots are far away."""
    return (a * a).sum(1, keepdim=True) + (b * b).sum(1)[None] - 2 * a @ b.T


def _first_true(mask: torch.Tensor, count: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Column positions of the first ``count`` true entries per row, and which exist."""
    count = min(count, mask.shape[1])
    # Stable sort of "not mask" brings true entries first, keeping their order.
    order = torch.sort((~mask).to(torch.uint8), dim=1, stable=True).indices[:, :count]
    return order, torch.gather(mask, 1, order)


def select_knn(
    distance: torch.Tensor, self_index: torch.Tensor, *, num_positives: int, num_negatives: int
) -> Selection:
    """Self + ``num_positives`` nearest slots as positives, the next ranks as negatives.

    Ties keep slot order (stable sort). When the bank is too small the negatives
    are cut short (the official ``min(Q, N - P - 1)``).
    """
    batch, size = distance.shape
    ranks = torch.argsort(distance, dim=1, stable=True)
    others = ranks != self_index[:, None]
    positions, _ = _first_true(others, size - 1)
    ranked = torch.gather(ranks, 1, positions)  # every slot but self, nearest first
    p = min(num_positives, size - 1)
    q = min(num_negatives, size - 1 - p)
    candidates = torch.cat([self_index[:, None], ranked[:, : p + q]], dim=1)
    valid = torch.ones_like(candidates, dtype=torch.bool)
    return Selection(candidates, valid, 1 + p)


def select_random(
    self_index: torch.Tensor,
    bank_size: int,
    *,
    num_negatives: int,
    generator: torch.Generator,
) -> Selection:
    """Warm-up: self as the only positive; negatives from one random permutation per batch.

    As in the official code, the batch shares one shuffled order of all slots,
    each sample skipping itself.
    """
    count = min(num_negatives, bank_size - 1)
    perm = torch.randperm(bank_size, generator=generator).to(self_index.device)
    head = perm[: count + 1][None, :].expand(self_index.shape[0], -1)
    positions, _ = _first_true(head != self_index[:, None], count)
    negatives = torch.gather(head, 1, positions)
    candidates = torch.cat([self_index[:, None], negatives], dim=1)
    return Selection(candidates, torch.ones_like(candidates, dtype=torch.bool), 1)


def select_in_clusters(
    distance: torch.Tensor,
    self_index: torch.Tensor,
    labels: torch.Tensor,
    *,
    num_positives: int,
    num_negatives: int,
) -> Selection:
    """Positives from the sample's pseudo-label cluster, hard negatives from outside it.

    Args:
        distance: ``(B, N)`` selection distances.
        self_index: ``(B,)`` slot of each sample (its label must be >= 0).
        labels: ``(N,)`` pseudo labels, -1 for outliers (never positives).

    Returns:
        Columns: self, up to ``num_positives`` nearest cluster-mates (padding marked
        invalid), then the ``num_negatives`` nearest slots with another label.
    """
    ranks = torch.argsort(distance, dim=1, stable=True)
    own = labels[self_index][:, None]
    ranked_labels = labels[ranks]
    mates = (ranked_labels == own) & (ranks != self_index[:, None])
    pos_at, pos_valid = _first_true(mates, num_positives)
    neg_at, neg_valid = _first_true(ranked_labels != own, num_negatives)
    candidates = torch.cat(
        [self_index[:, None], torch.gather(ranks, 1, pos_at), torch.gather(ranks, 1, neg_at)],
        dim=1,
    )
    valid = torch.cat(
        [torch.ones_like(self_index[:, None], dtype=torch.bool), pos_valid, neg_valid], dim=1
    )
    # Padding points at slot 0 (masked): keeps indices in range for gathers.
    candidates = torch.where(valid, candidates, torch.zeros_like(candidates))
    return Selection(candidates, valid, 1 + pos_at.shape[1])
