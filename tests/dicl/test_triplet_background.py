"""Hardest triplet with the background term on one-dimensional embeddings."""

from __future__ import annotations

import pytest
import torch

from pipeline.losses.triplet_background import triplet_background_loss

# foreground a=0, b=1 (label 0), c=3 (label 1); background d=2.5
EMB = torch.tensor([[0.0], [1.0], [3.0], [2.5]])
LABELS = torch.tensor([0, 0, 1, -1])


def test_identity_and_background_terms_by_hand():
    # identity: hardest pos/neg a (1, 3), b (1, 2), c (0, 2) -> hinge 0, 0.5, 0 at margin 1.5
    # background: farthest fg 3, 2, 3; nearest bg 2.5, 1.5, 0.5 -> hinge 2, 2, 4
    loss = triplet_background_loss(EMB, LABELS, margin=1.5, background_weight=0.25)
    assert loss.item() == pytest.approx(0.5 / 3 + 0.25 * 8 / 3, abs=1e-5)


def test_without_background_only_identity_term():
    loss = triplet_background_loss(EMB[:3], LABELS[:3], margin=1.5, background_weight=0.25)
    assert loss.item() == pytest.approx(0.5 / 3, abs=1e-5)


def test_single_label_gives_zero():
    loss = triplet_background_loss(EMB, torch.tensor([0, 0, 0, -1]), margin=1.5)
    assert loss.item() == 0.0


def test_background_gradient_by_hand():
    emb = EMB.clone().requires_grad_(True)
    triplet_background_loss(emb, LABELS, margin=1.5, background_weight=0.25).backward()
    # d is the nearest background of every anchor: moving it up lengthens a-d and b-d
    # (-1 each) and shortens c-d (+1); mean -1/3, times the weight 0.25
    assert emb.grad[3, 0].item() == pytest.approx(-0.25 / 3, abs=1e-6)
