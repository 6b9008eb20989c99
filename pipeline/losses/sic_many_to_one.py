"""Siamese instance consistency, many-to-one (DICL ``loss_sim``).

Paper: Wang et al., "Deep Intra-Image Contrastive Learning for Weakly Supervised
One-Step Person Search" (Pattern Recognition 2024). Every positive proposal of the
scene branch should embed like the crop of the ground-truth box it was assigned to
(the Siamese branch re-encodes that crop): the loss is the mean over positive
proposals of ``1 - cos(proposal embedding, its GT crop embedding)``. Several
proposals share one crop, hence "many-to-one".
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def sic_many_to_one_loss(proposal_emb: torch.Tensor, crop_emb: torch.Tensor) -> torch.Tensor:
    """Mean ``1 - cosine`` between paired rows.

    Args:
        proposal_emb: (P, D) embeddings of positive proposals.
        crop_emb: (P, D) embedding of each proposal's ground-truth crop (rows repeat
            when proposals share a box).

    Returns:
        Scalar in [0, 2]; 0 (connected to the graph) when ``P == 0``.
    """
    if proposal_emb.shape != crop_emb.shape:
        raise ValueError(
            f"sic_many_to_one: shapes differ: {tuple(proposal_emb.shape)} vs "
            f"{tuple(crop_emb.shape)}"
        )
    if proposal_emb.shape[0] == 0:
        return proposal_emb.sum() * 0.0 + crop_emb.sum() * 0.0
    cosine = (F.normalize(proposal_emb, dim=1) * F.normalize(crop_emb, dim=1)).sum(dim=1)
    return (1.0 - cosine).mean()
