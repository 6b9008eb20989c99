"""The selective contrastive and cluster contrast losses on hand-checkable tensors."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from pipeline.losses.cluster_contrast import cluster_contrast_loss
from pipeline.losses.selective_contrastive import positive_weights, selective_contrastive_loss

MEMORY = torch.tensor([[1.0, 0.0], [0.0, 1.0], [-1.0, 0.0]])


def test_positive_weights_are_the_papers():
    valid = torch.ones(1, 8, dtype=torch.bool)
    w = positive_weights(valid, self_weight=0.5, neighbour_scale=1.75)
    # lambda_t = 0.5 on self, alpha (1 - lambda_t) / 7 = 0.125 on each of 7 neighbours.
    assert torch.allclose(w, torch.tensor([[0.5] + [0.125] * 7]))
    valid[0, 3] = False
    w = positive_weights(valid, self_weight=0.5, neighbour_scale=1.75)
    assert w[0, 3] == 0 and w[0, 4] == 0.125


def test_positive_weights_self_only():
    w = positive_weights(torch.ones(2, 1, dtype=torch.bool), self_weight=0.5, neighbour_scale=1.75)
    assert torch.allclose(w, torch.full((2, 1), 0.5))


def test_loss_hand_worked():
    # logits [1, 0, -1]; log-sum-exp = log(e + 1 + 1/e).
    lse = math.log(math.e + 1 + 1 / math.e)
    loss, logits = selective_contrastive_loss(
        torch.tensor([[1.0, 0.0]]),
        MEMORY,
        torch.tensor([[0, 1, 2]]),
        torch.ones(1, 3, dtype=torch.bool),
        torch.tensor([[0.5, 0.5]]),
        temperature=1.0,
    )
    expected = 0.5 * (lse - 1) + 0.5 * (lse - 0)
    assert loss.item() == pytest.approx(expected, rel=1e-6)
    assert torch.allclose(logits, torch.tensor([[1.0, 0.0, -1.0]]))


def test_loss_temperature_and_padding():
    loss, logits = selective_contrastive_loss(
        torch.tensor([[1.0, 0.0]]),
        MEMORY,
        torch.tensor([[0, 1, 2]]),
        torch.tensor([[True, True, False]]),
        torch.tensor([[0.5, 0.5]]),
        temperature=0.5,
    )
    # logits [2, 0] (the padded one is out of the softmax): lse = log(e^2 + 1).
    lse = math.log(math.e**2 + 1)
    assert loss.item() == pytest.approx(0.5 * (lse - 2) + 0.5 * lse, rel=1e-6)
    assert logits[0, 2] == float("-inf")


def test_padded_positive_carries_no_weight_and_no_nan():
    loss, _ = selective_contrastive_loss(
        torch.tensor([[1.0, 0.0]]),
        MEMORY,
        torch.tensor([[0, 1, 2]]),
        torch.tensor([[True, False, True]]),
        torch.tensor([[0.5, 0.0]]),
        temperature=1.0,
    )
    lse = math.log(math.e + 1 / math.e)
    assert loss.item() == pytest.approx(0.5 * (lse - 1), rel=1e-6)


def test_loss_equals_official_sum_of_cross_entropies():
    # The official loss: for each positive column j, cof_j * CE(logits, target j), batch mean.
    gen = torch.Generator().manual_seed(0)
    x = F.normalize(torch.randn(4, 6, generator=gen), dim=1)
    memory = F.normalize(torch.randn(20, 6, generator=gen), dim=1)
    cand = torch.stack([torch.randperm(20, generator=gen)[:9] for _ in range(4)])
    weights = positive_weights(
        torch.ones(4, 3, dtype=torch.bool), self_weight=0.5, neighbour_scale=1.75
    )
    loss, _ = selective_contrastive_loss(
        x, memory, cand, torch.ones_like(cand, dtype=torch.bool), weights, temperature=0.1
    )
    logits = torch.einsum("bd,bkd->bk", x, memory[cand]) / 0.1
    cof = [0.5, 0.4375, 0.4375]
    reference = sum(
        c * F.cross_entropy(logits, torch.full((4,), j, dtype=torch.long))
        for j, c in enumerate(cof)
    )
    assert loss.item() == pytest.approx(reference.item(), rel=1e-5)


def test_loss_gradient_reaches_features_not_memory():
    x = torch.tensor([[1.0, 0.0]], requires_grad=True)
    memory = MEMORY.clone().requires_grad_(True)
    loss, _ = selective_contrastive_loss(
        x,
        memory,
        torch.tensor([[0, 1, 2]]),
        torch.ones(1, 3, dtype=torch.bool),
        torch.tensor([[1.0]]),
        temperature=1.0,
    )
    loss.backward()
    assert memory.grad is None
    # d/dx of -log softmax_0 = -(m_0 - sum_k p_k m_k)
    p = torch.softmax(torch.tensor([1.0, 0.0, -1.0]), 0)
    expected = -(MEMORY[0] - (p[:, None] * MEMORY).sum(0))
    assert torch.allclose(x.grad[0], expected, atol=1e-6)


def test_cluster_contrast_hand_worked():
    loss = cluster_contrast_loss(
        torch.tensor([[1.0, 0.0]]),
        torch.tensor([[1.0, 0.0], [0.0, 1.0]]),
        torch.tensor([0]),
        temperature=0.5,
    )
    assert loss.item() == pytest.approx(math.log(1 + math.exp(-2)), rel=1e-6)


def test_cluster_contrast_rejects_bad_labels_and_handles_empty():
    with pytest.raises(ValueError, match="labels"):
        cluster_contrast_loss(torch.ones(1, 2), torch.ones(2, 2), torch.tensor([2]))
    empty = cluster_contrast_loss(
        torch.zeros(0, 2), torch.ones(2, 2), torch.zeros(0, dtype=torch.long)
    )
    assert empty.item() == 0.0
