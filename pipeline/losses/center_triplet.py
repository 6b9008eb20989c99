"""Center-triplet loss (the hetero-center triplet variant DCLNet trains with).

Zhu et al., "Hetero-Center loss for cross-modality person re-identification"
(Neurocomputing 2020) and Liu et al., "Parameter sharing exploration and
hetero-center triplet loss for VT Re-ID" (TMM 2020); the form below is the
``CenterTripletLoss`` of the DCLNet code (sunhz0117/DCLNet ``loss.py:349-387``,
margin 0.7, ``k_size`` = identities per batch: ``train_ddag.py:235``). With
``c_y`` the mean feature of identity ``y`` over the batch (both modalities):

    L = mean_i ||x_i - c_{y_i}||  +  mean_{a in A} mean_{j: y_j != y_a} max(0, margin - ||c_{y_a} - c_{y_j}||)

The pull term averages over every row. The hinge is anchored, as in the official
loop ``for i in range(0, n, self.k_size)``, only at the rows ``A = 0, s, 2s, ...``
(``s = anchor_stride``), and averages over the *rows* of other identities (each
row's centre counts once per row, not once per identity). With the paper's
batches (8 identities x 4 images, visible half then infrared half, identity-major)
and ``s = 8`` the anchors are rows 0, 8, ..., 56: the 1st, 3rd, 5th and 7th
identity of each half, so half the identities anchor the hinge, each twice.
"""

from __future__ import annotations

import torch


def _safe_norm(squared: torch.Tensor) -> torch.Tensor:
    """sqrt with value 0 and gradient 0 at 0 (a feature exactly on its centre)."""
    positive = squared > 0
    return torch.where(positive, torch.where(positive, squared, 1.0).sqrt(), 0.0)


def center_triplet_loss(
    features: torch.Tensor, labels: torch.Tensor, margin: float, anchor_stride: int
) -> torch.Tensor:
    """Centre pull + centre-to-centre hinge at the official anchor rows.

    Args:
        features: (B, D) features (DCLNet: the GeM-pooled feature before BNNeck).
        labels: (B,) identity labels.
        margin: minimum distance wanted between two identity centres.
        anchor_stride: the hinge is taken at rows ``0, anchor_stride, ...`` (the
            official ``k_size``: identities per batch).

    Returns:
        Scalar loss. With a single identity in the batch the hinge term is 0.
    """
    if features.ndim != 2 or labels.shape != features.shape[:1]:
        raise ValueError(
            f"features {tuple(features.shape)} and labels {tuple(labels.shape)} do not match"
        )
    if anchor_stride < 1:
        raise ValueError(f"anchor_stride must be >= 1, got {anchor_stride}")
    ids, inverse = labels.unique(sorted=True, return_inverse=True)
    # Centres as a one-hot average: a matrix product, deterministic on every device.
    onehot = inverse.unsqueeze(0) == torch.arange(len(ids), device=labels.device).unsqueeze(1)
    onehot = onehot.to(features.dtype)
    centers = onehot @ features / onehot.sum(dim=1, keepdim=True)

    offsets = features - centers[inverse]
    pull = _safe_norm(offsets.pow(2).sum(dim=1)).mean()
    if len(ids) < 2:
        return pull
    anchors = inverse[:: int(anchor_stride)]  # (A,) identity index of each anchor row
    negative = inverse.unsqueeze(0) != anchors.unsqueeze(1)  # (A, B)
    gaps = centers[anchors].unsqueeze(1) - centers[inverse].unsqueeze(0)  # (A, B, D)
    hinge = (margin - _safe_norm(gaps.pow(2).sum(dim=2))).clamp(min=0.0)
    push = (hinge * negative).sum(dim=1) / negative.sum(dim=1)
    return pull + push.mean()
