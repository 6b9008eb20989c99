"""Hardest-in-batch triplet loss with a background term (DICL ``loss_triplet``).

Paper: Wang et al., "Deep Intra-Image Contrastive Learning for Weakly Supervised
One-Step Person Search" (Pattern Recognition 2024); the triplet follows Hermans et
al., "In Defense of the Triplet Loss for Person Re-Identification" (2017).

Inputs are the embeddings of the sampled proposals: foreground ones labelled with
their pseudo label (cluster of their ground-truth box), background ones with a
negative label. With Euclidean distances ``d``:

* identity term: for each foreground anchor, hardest positive = farthest
  foreground sample of its label (itself included), hardest negative = nearest
  foreground sample of another label; ``mean(relu(d_ap - d_an + margin))``;
* background term: for each foreground anchor, ``d_ap`` = farthest foreground
  sample of *any* label, ``d_an`` = nearest background sample; same hinge.

Total = identity term + ``background_weight`` * background term (margin 0.3,
weight 0.25). As in the official code the loss is 0 when the foreground holds
fewer than two distinct labels; the background term is skipped without
background samples.
"""

from __future__ import annotations

import torch


def _euclidean(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    sq = (a * a).sum(1, keepdim=True) + (b * b).sum(1).unsqueeze(0) - 2.0 * a @ b.t()
    return sq.clamp(min=1e-12).sqrt()


def triplet_background_loss(
    embeddings: torch.Tensor,
    labels: torch.Tensor,
    *,
    margin: float = 0.3,
    background_weight: float = 0.25,
) -> torch.Tensor:
    """Hardest triplet over foreground labels plus the background-negative term.

    Args:
        embeddings: (N, D) proposal embeddings.
        labels: (N,) pseudo labels; negative = background proposal.
        margin: hinge margin.
        background_weight: weight of the background term.

    Returns:
        Scalar loss (0, connected to the graph, when fewer than two foreground labels).
    """
    if embeddings.shape[0] != labels.shape[0]:
        raise ValueError(f"triplet: {embeddings.shape[0]} embeddings but {labels.shape[0]} labels")
    fg = labels >= 0
    fg_emb, fg_labels = embeddings[fg], labels[fg]
    if torch.unique(fg_labels).numel() < 2:
        return embeddings.sum() * 0.0
    dist = _euclidean(fg_emb, fg_emb)
    same = fg_labels.unsqueeze(0) == fg_labels.unsqueeze(1)
    hardest_pos = dist.masked_fill(~same, float("-inf")).amax(dim=1)
    hardest_neg = dist.masked_fill(same, float("inf")).amin(dim=1)
    loss = torch.relu(hardest_pos - hardest_neg + margin).mean()
    bg_emb = embeddings[~fg]
    if bg_emb.shape[0] > 0:
        farthest_fg = dist.amax(dim=1)
        nearest_bg = _euclidean(fg_emb, bg_emb).amin(dim=1)
        loss = loss + background_weight * torch.relu(farthest_fg - nearest_bg + margin).mean()
    return loss
