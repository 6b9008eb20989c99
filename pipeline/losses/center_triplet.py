"""Center-triplet loss (the hetero-center triplet variant DCLNet trains with).

Zhu et al., "Hetero-Center loss for cross-modality person re-identification"
(Neurocomputing 2020) and Liu et al., "Parameter sharing exploration and
hetero-center triplet loss for VT Re-ID" (TMM 2020); the form below is the
``CenterTripletLoss`` of the DCLNet code (margin 0.7): with ``c_y`` the mean
feature of identity ``y`` over the batch (both modalities),

    L = mean_i ||x_i - c_{y_i}||  +  mean_y mean_{z != y} max(0, margin - ||c_y - c_z||)

the first term pulls every feature to its identity centre, the second pushes
centres of different identities at least ``margin`` apart.
"""

from __future__ import annotations

import torch


def _safe_norm(squared: torch.Tensor) -> torch.Tensor:
    """sqrt with value 0 and gradient 0 at 0 (a feature exactly on its centre)."""
    positive = squared > 0
    return torch.where(positive, torch.where(positive, squared, 1.0).sqrt(), 0.0)


def center_triplet_loss(
    features: torch.Tensor, labels: torch.Tensor, margin: float = 0.7
) -> torch.Tensor:
    """Centre pull + centre-to-centre hinge.

    Args:
        features: (B, D) features (DCLNet: the GeM-pooled feature before BNNeck).
        labels: (B,) identity labels.
        margin: minimum distance wanted between two identity centres.

    Returns:
        Scalar loss. With a single identity in the batch the hinge term is 0.
    """
    if features.ndim != 2 or labels.shape != features.shape[:1]:
        raise ValueError(
            f"features {tuple(features.shape)} and labels {tuple(labels.shape)} do not match"
        )
    ids, inverse = labels.unique(sorted=True, return_inverse=True)
    # Centres as a one-hot average: a matrix product, deterministic on every device.
    onehot = inverse.unsqueeze(0) == torch.arange(len(ids), device=labels.device).unsqueeze(1)
    onehot = onehot.to(features.dtype)
    centers = onehot @ features / onehot.sum(dim=1, keepdim=True)

    offsets = features - centers[inverse]
    pull = _safe_norm(offsets.pow(2).sum(dim=1)).mean()
    if len(ids) < 2:
        return pull
    dist = _safe_norm((centers.unsqueeze(1) - centers.unsqueeze(0)).pow(2).sum(dim=2))
    hinge = (margin - dist).clamp(min=0.0)
    off_diagonal = ~torch.eye(len(ids), dtype=torch.bool, device=features.device)
    push = (hinge * off_diagonal).sum(dim=1) / (len(ids) - 1)
    return pull + push.mean()
