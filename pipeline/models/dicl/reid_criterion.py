"""DICL's re-id losses over one batch, with their weights and switches.

Paper: Wang et al., "Deep Intra-Image Contrastive Learning for Weakly Supervised
One-Step Person Search" (Pattern Recognition 2024); official ``DICLHead.loss``.
Given the sampled proposals of a batch (positives first per image, each positive
assigned to a ground-truth box) and the crop embedding of every ground-truth box:

* ``loss_id``: memory contrast of ``(proposal + its crop) / 2`` against the
  pseudo-label clusters of the hybrid memory (slot = the box's memory index);
* ``loss_sim``: SIC many-to-one, ``1 - cos(proposal, its crop)``;
* ``loss_kl``: SIC dense, symmetric KL of proposal and crop similarity matrices;
* ``loss_triplet``: hardest triplet over the positives (as their mean embeddings,
  labelled with their box's pseudo label) and the background proposals.

After the losses, every positive's mean embedding updates its memory slot; in
distributed training the updates of all processes are gathered first so every
copy of the memory stays identical.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from detectron2.utils import comm
from torch import nn

from pipeline.losses.memory_contrast import HybridMemory
from pipeline.losses.sic_dense import sic_dense_loss
from pipeline.losses.sic_many_to_one import sic_many_to_one_loss
from pipeline.losses.triplet_background import triplet_background_loss


@dataclass(frozen=True)
class LossSwitches:
    """Weight of each re-id loss; a loss that is switched off has no entry."""

    memory: float | None = 1.0
    sic_many_to_one: float | None = 1.0
    sic_dense: float | None = 0.1
    triplet: float | None = 1.0
    triplet_margin: float = 0.3
    triplet_background_weight: float = 0.25


def _gather_cat(tensor: torch.Tensor) -> torch.Tensor:
    """Concatenate a tensor over processes in rank order (itself when not distributed)."""
    if comm.get_world_size() == 1:
        return tensor
    parts = comm.all_gather(tensor.detach().cpu())
    return torch.cat(parts, dim=0).to(tensor.device)


class ReidCriterion(nn.Module):
    """Memory contrast, SIC and triplet losses, and the memory update.

    Args:
        memory: the hybrid instance memory (one slot per training box).
        switches: weights (None = switched off).
    """

    def __init__(self, memory: HybridMemory, switches: LossSwitches) -> None:
        super().__init__()
        self.memory = memory
        self.switches = switches

    def forward(
        self,
        proposal_emb: torch.Tensor,
        is_positive: torch.Tensor,
        gt_index: torch.Tensor,
        crop_emb: torch.Tensor | None,
        gt_memory_index: torch.Tensor,
    ) -> dict[str, torch.Tensor]:
        """Losses of one batch; updates the memory when training.

        Args:
            proposal_emb: (R, E) L2-normalised embeddings of the sampled proposals.
            is_positive: (R,) bool, proposal assigned to a ground-truth box.
            gt_index: (R,) index of the assigned box among the batch's boxes (any
                value for background proposals).
            crop_emb: (G, E) crop embedding of each of the batch's G boxes, or None
                without the crop branch.
            gt_memory_index: (G,) memory slot of each box.

        Returns:
            Weighted losses named ``loss_id``, ``loss_sim``, ``loss_kl``, ``loss_triplet``
            (those switched on).
        """
        s = self.switches
        pos_emb = proposal_emb[is_positive]
        pos_gt = gt_index[is_positive]
        pos_slots = gt_memory_index[pos_gt]
        pos_crop = crop_emb[pos_gt] if crop_emb is not None else None
        mean_emb = (pos_emb + pos_crop) / 2 if pos_crop is not None else pos_emb

        losses: dict[str, torch.Tensor] = {}
        if s.memory is not None:
            losses["loss_id"] = s.memory * self.memory.loss(mean_emb, pos_slots)
        if s.sic_many_to_one is not None and pos_crop is not None:
            losses["loss_sim"] = s.sic_many_to_one * sic_many_to_one_loss(pos_emb, pos_crop)
        if s.sic_dense is not None and pos_crop is not None:
            losses["loss_kl"] = s.sic_dense * sic_dense_loss(pos_emb, pos_crop)
        if s.triplet is not None:
            bg_emb = proposal_emb[~is_positive]
            labels = torch.cat(
                [
                    self.memory.labels[pos_slots],
                    torch.full((bg_emb.shape[0],), -1, dtype=torch.long, device=bg_emb.device),
                ]
            )
            losses["loss_triplet"] = s.triplet * triplet_background_loss(
                torch.cat([mean_emb, bg_emb]),
                labels,
                margin=s.triplet_margin,
                background_weight=s.triplet_background_weight,
            )
        if self.training:
            self.memory.update(_gather_cat(mean_emb.detach()), _gather_cat(pos_slots))
        return losses
