"""Selective contrastive loss with multiple positives (Pang et al., ACM TOMM 2022).

For a sample x, a selected candidate set of memory slots (P positives first,
then Q negatives) gives logits ``z_k = <x, M_k> / T`` (T = 0.1). With
``p_k = softmax(z)_k`` over the whole candidate set, the loss is

    L = - sum_{j < P} w_j log p_j,

w_0 = lambda_t on the sample itself and w_j = alpha (1 - lambda_t) / P' on each of
the P' = P - 1 neighbours (lambda_t = 0.5, alpha = 1.75, P' = 7: official
``loss_fn``). Each positive is scored against all other candidates, positives
included, as the official code's one cross-entropy per positive column does;
the batch mean is taken per term. Padding candidates (``valid`` false) are left
out of the softmax and carry no weight. The memory receives no gradient.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F


def positive_weights(
    valid_positives: torch.Tensor, *, self_weight: float, neighbour_scale: float
) -> torch.Tensor:
    """The paper's weights ``[lambda_t, alpha (1 - lambda_t) / P', ...]`` per positive column.

    Args:
        valid_positives: ``(B, P)`` bool; column 0 is the sample itself.
        self_weight: lambda_t.
        neighbour_scale: alpha.

    Returns:
        ``(B, P)`` float weights, zero where a positive is padding. P' = P - 1 is the
        number of neighbour columns, so a sample with fewer real neighbours gets
        less neighbour weight in total (as the official fixed coefficients would).
    """
    num_neighbours = valid_positives.shape[1] - 1
    weights = torch.zeros(valid_positives.shape, dtype=torch.float32, device=valid_positives.device)
    weights[:, 0] = self_weight
    if num_neighbours > 0:
        weights[:, 1:] = neighbour_scale * (1.0 - self_weight) / num_neighbours
    return weights * valid_positives.to(weights.dtype)


def selective_contrastive_loss(
    features: torch.Tensor,
    memory: torch.Tensor,
    candidates: torch.Tensor,
    valid: torch.Tensor,
    weights: torch.Tensor,
    *,
    temperature: float = 0.1,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The weighted multi-positive softmax loss over selected memory slots.

    Args:
        features: ``(B, D)`` embeddings (any norm: concatenated stripes have norm sqrt(S)).
        memory: ``(N, D)`` bank; treated as a constant.
        candidates: ``(B, K)`` slot indices, the first P are positives.
        valid: ``(B, K)`` bool mask of real candidates.
        weights: ``(B, P)`` weight of each positive column (see :func:`positive_weights`).
        temperature: T.

    Returns:
        ``(loss, logits)``: the scalar loss and the ``(B, K)`` logits (-inf on padding).
    """
    num_pos = weights.shape[1]
    slots = memory.detach()[candidates]  # (B, K, D)
    logits = torch.einsum("bd,bkd->bk", features, slots.to(features.dtype)) / temperature
    logits = logits.masked_fill(~valid, float("-inf"))
    log_prob = F.log_softmax(logits, dim=1)[:, :num_pos]
    weights = weights.to(log_prob.dtype)
    terms = torch.where(weights > 0, log_prob, torch.zeros_like(log_prob)) * weights
    return -terms.sum(dim=1).mean(), logits
