"""Cluster-level contrastive loss against a centroid memory (Dai et al., "Cluster
Contrast for Unsupervised Person Re-Identification", ACCV 2022).

The unsupervised track's pseudo-label rounds (docs/methods.md, "SCL") re-initialise
one centroid per DBSCAN cluster; each sample is pulled to its own cluster's
centroid and pushed from every other one:

    L = - log softmax(<x, C> / T)_{y(x)}     (T = 0.05 in Cluster Contrast)

averaged over the batch. The centroids receive no gradient (they are updated by
momentum outside the loss).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def cluster_contrast_loss(
    features: torch.Tensor,
    centroids: torch.Tensor,
    labels: torch.Tensor,
    *,
    temperature: float = 0.05,
) -> torch.Tensor:
    """Cross-entropy of each sample against all cluster centroids.

    Args:
        features: ``(B, D)`` embeddings.
        centroids: ``(K, D)`` cluster memory (constant).
        labels: ``(B,)`` cluster of each sample, in ``[0, K)``.
        temperature: T.

    Returns:
        The scalar loss (0 for an empty batch).
    """
    if features.shape[0] == 0:
        return features.sum() * 0.0
    if labels.min() < 0 or labels.max() >= centroids.shape[0]:
        raise ValueError(
            f"labels must lie in [0, {centroids.shape[0]}), got {labels.min()}..{labels.max()}"
        )
    logits = features @ centroids.detach().to(features.dtype).T / temperature
    return F.cross_entropy(logits, labels.to(torch.long))
