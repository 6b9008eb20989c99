"""Siamese instance consistency, dense (DICL ``loss_kl``).

Paper: Wang et al., "Deep Intra-Image Contrastive Learning for Weakly Supervised
One-Step Person Search" (Pattern Recognition 2024). The positive proposals of a
batch should relate to each other as their ground-truth crops do: with ``S_p`` the
proposal-proposal cosine similarity matrix and ``S_c`` the crop-crop one (crop of
each proposal's box), both softmaxed row by row, the loss is the symmetric
Kullback-Leibler divergence ``KL(S_c || S_p) + KL(S_p || S_c)``.

Reduction as the official code runs it (``F.kl_div`` with its default ``mean``):
the element-wise terms are averaged over all ``P * P`` entries, i.e. the row KLs
summed and divided by ``P * P`` (the paper's weight 0.1 applies on top).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def sic_dense_loss(proposal_emb: torch.Tensor, crop_emb: torch.Tensor) -> torch.Tensor:
    """Symmetric KL between the softmaxed similarity structures of two paired sets.

    Args:
        proposal_emb: (P, D) L2-normalised embeddings of positive proposals.
        crop_emb: (P, D) L2-normalised embedding of each proposal's ground-truth crop.

    Returns:
        Scalar >= 0; 0 (connected to the graph) when ``P == 0``.
    """
    if proposal_emb.shape != crop_emb.shape:
        raise ValueError(
            f"sic_dense: shapes differ: {tuple(proposal_emb.shape)} vs {tuple(crop_emb.shape)}"
        )
    n = proposal_emb.shape[0]
    if n == 0:
        return proposal_emb.sum() * 0.0 + crop_emb.sum() * 0.0
    log_p = F.log_softmax(proposal_emb @ proposal_emb.t(), dim=1)
    log_c = F.log_softmax(crop_emb @ crop_emb.t(), dim=1)
    kl_c_p = (log_c.exp() * (log_c - log_p)).sum()
    kl_p_c = (log_p.exp() * (log_p - log_c)).sum()
    return (kl_c_p + kl_p_c) / (n * n)
