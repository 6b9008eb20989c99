"""Hybrid instance memory and its contrastive loss (DICL ``loss_id``).

Paper: Wang et al., "Deep Intra-Image Contrastive Learning for Weakly Supervised
One-Step Person Search" (Pattern Recognition 2024), which takes the hybrid memory
of Ge et al., "Self-paced Contrastive Learning with Hybrid Memory" (NeurIPS 2020)
and keeps only the hardest negatives.

The memory holds one L2-normalised slot per training box. Before each epoch the
slots are clustered into pseudo labels (outliers keep their own label). An input
embedding is compared with every cluster: its logit for cluster ``c`` is the mean
of its cosine similarities to the slots of ``c`` divided by the temperature (the
cosine to the cluster's mean slot). Among the negative clusters only the hardest
ones are kept: sorted by softmax probability (over negatives only), the prefix
whose cumulative mass is closest to ``hard_negative_mass`` (0.6), plus ties; the
loss is the cross-entropy of the positive cluster against the positive and those
negatives. After the loss, each input updates its own slot in turn:
``slot = momentum * slot + (1 - momentum) * input``, renormalised (momentum 0.2).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def hardest_negative_mask(neg_logits: torch.Tensor, mass: float) -> torch.Tensor:
    """Which negatives carry the top ``mass`` of the negative softmax, row by row.

    Args:
        neg_logits: (B, C) logits with ``-inf`` where a column is not a negative.
        mass: target cumulative probability in (0, 1].

    Returns:
        (B, C) bool: True for kept negatives. The kept prefix of each sorted row is
        the one whose cumulative probability is closest to ``mass``; every column
        whose probability equals the last kept one is kept too.
    """
    # A row without negatives (one cluster in all) gives NaN: it keeps nothing.
    probs = torch.softmax(neg_logits, dim=1).nan_to_num(0.0)
    sorted_probs, _ = torch.sort(probs, dim=1, descending=True)
    cutoff_rank = (sorted_probs.cumsum(dim=1) - mass).abs().argmin(dim=1, keepdim=True)
    threshold = sorted_probs.gather(1, cutoff_rank)
    return (probs >= threshold) & torch.isfinite(neg_logits)


class HybridMemory(nn.Module):
    """Instance memory with cluster-level, hardest-negative contrast.

    Args:
        num_slots: one slot per training box.
        dim: embedding size.
        temperature: softmax temperature (0.05).
        momentum: weight of the old slot in the update (0.2).
        hard_negative_mass: cumulative negative probability kept (0.6).
    """

    def __init__(
        self,
        num_slots: int,
        dim: int,
        *,
        temperature: float = 0.05,
        momentum: float = 0.2,
        hard_negative_mass: float = 0.6,
    ) -> None:
        super().__init__()
        if num_slots < 1 or dim < 1:
            raise ValueError(f"memory needs num_slots >= 1 and dim >= 1, got {num_slots}, {dim}")
        self.temperature = temperature
        self.momentum = momentum
        self.hard_negative_mass = hard_negative_mass
        # Not in the model's state dict: the memory is training state (saved in the
        # resume checkpoint), not part of the trained network.
        self.register_buffer("features", torch.zeros(num_slots, dim), persistent=False)
        self.register_buffer("labels", torch.arange(num_slots), persistent=False)

    @property
    def num_slots(self) -> int:
        return self.features.shape[0]

    @torch.no_grad()
    def initialize(self, features: torch.Tensor) -> None:
        """Fill every slot (L2-normalised) and give each slot its own label."""
        if features.shape != self.features.shape:
            raise ValueError(
                f"memory initialisation: expected features {tuple(self.features.shape)}, "
                f"got {tuple(features.shape)}"
            )
        self.features.copy_(F.normalize(features.float(), dim=1))
        self.labels.copy_(torch.arange(self.num_slots, device=self.labels.device))

    @torch.no_grad()
    def set_labels(self, labels: torch.Tensor) -> None:
        """Pseudo labels, one per slot, in [0, num_clusters) (outliers as singletons)."""
        labels = torch.as_tensor(labels, dtype=torch.long)
        if labels.shape != (self.num_slots,) or (labels.numel() and labels.min() < 0):
            raise ValueError(
                f"memory labels: expected {self.num_slots} labels >= 0, "
                f"got shape {tuple(labels.shape)}"
            )
        self.labels.copy_(labels.to(self.labels.device))

    def cluster_logits(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean slot similarity per cluster over the temperature, and which clusters exist.

        Returns:
            ``(logits (B, C), present (C,) bool)`` with ``C = labels.max() + 1``.
        """
        inputs = F.normalize(inputs, dim=1)
        # A snapshot: autograd keeps it for the backward pass, while ``update`` may
        # change the slots in place before that pass runs.
        slots = self.features.clone()
        slot_logits = inputs @ slots.t() / self.temperature  # (B, N)
        num_clusters = int(self.labels.max().item()) + 1
        sums = slot_logits.new_zeros(num_clusters, inputs.shape[0])
        sums.index_add_(0, self.labels, slot_logits.t())
        counts = torch.bincount(self.labels, minlength=num_clusters).to(slot_logits.dtype)
        present = counts > 0
        return (sums / counts.clamp(min=1).unsqueeze(1)).t(), present

    def loss(self, inputs: torch.Tensor, indexes: torch.Tensor) -> torch.Tensor:
        """Contrastive loss of ``inputs`` (B, D) against the clusters of their slots ``indexes``."""
        if inputs.shape[0] == 0:
            return inputs.sum() * 0.0
        logits, present = self.cluster_logits(inputs)
        targets = self.labels[indexes]
        is_target = F.one_hot(targets, num_classes=logits.shape[1]).bool()
        negatives = present.unsqueeze(0) & ~is_target
        neg_logits = logits.masked_fill(~negatives, float("-inf"))
        with torch.no_grad():
            keep = hardest_negative_mask(neg_logits, self.hard_negative_mass) | is_target
        kept_logits = logits.masked_fill(~keep, float("-inf"))
        return F.cross_entropy(kept_logits, targets)

    @torch.no_grad()
    def update(self, inputs: torch.Tensor, indexes: torch.Tensor) -> None:
        """Momentum-update the slots of ``indexes`` in order (a repeated slot moves each time)."""
        inputs = F.normalize(inputs.detach().float(), dim=1)
        for x, slot in zip(inputs, indexes.tolist(), strict=True):
            merged = self.momentum * self.features[slot] + (1.0 - self.momentum) * x
            self.features[slot] = merged / merged.norm().clamp(min=1e-12)
