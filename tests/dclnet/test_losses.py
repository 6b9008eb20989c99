"""Center-triplet, pixel parsing and smoothness losses against hand-worked values."""

from __future__ import annotations

import math

import pytest
import torch

from pipeline.losses.center_triplet import center_triplet_loss
from pipeline.losses.pixel_parsing import masked_cross_entropy, pixel_parsing_loss
from pipeline.losses.smoothness import smoothness_loss


def test_center_triplet_hand_value():
    # id 0: features 0 and 2 (centre 1); id 1: 1.5 twice (centre 1.5).
    # pull = mean(1, 1, 0, 0) = 0.5; centres 0.5 apart, margin 0.7 -> hinge 0.2 each.
    x = torch.tensor([[0.0], [2.0], [1.5], [1.5]])
    y = torch.tensor([0, 0, 1, 1])
    assert center_triplet_loss(x, y, margin=0.7, anchor_stride=2).item() == pytest.approx(0.7)


def test_center_triplet_far_centres_only_pull_and_single_id():
    x = torch.tensor([[0.0, 0.0], [0.0, 2.0], [5.0, 0.0], [5.0, 0.0], [5.0, 0.0]])
    y = torch.tensor([3, 3, 8, 8, 8])
    assert center_triplet_loss(x, y, margin=0.7, anchor_stride=1).item() == pytest.approx(2 / 5)
    assert center_triplet_loss(x[:2], y[:2], 0.7, anchor_stride=1).item() == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("stride", "push"),
    # Three ids at 0, 0.1, 1.0, one row each (pull 0), margin 0.7. Hinge per anchor row:
    # row 0 (id a): (0.6 + 0) / 2 = 0.3; row 1 (id b): (0.6 + 0) / 2 = 0.3; row 2 (id c): 0.
    [(1, (0.3 + 0.3 + 0.0) / 3), (2, (0.3 + 0.0) / 2), (3, 0.3)],
)
def test_center_triplet_hinge_only_at_the_official_anchor_rows(stride, push):
    x = torch.tensor([[0.0], [0.1], [1.0]], requires_grad=True)
    loss = center_triplet_loss(x, torch.tensor([0, 1, 2]), margin=0.7, anchor_stride=stride)
    assert loss.item() == pytest.approx(push)
    loss.backward()
    assert torch.isfinite(x.grad).all()


def test_center_triplet_hinge_averages_over_negative_rows_not_identities():
    # Rows: id 0 twice at 0, id 1 at 0.1, id 2 at 1.0 (pull 0); anchors rows 0 and 2.
    # Row 0 (id 0): negatives rows 2, 3 -> (0.6 + 0) / 2 = 0.3.
    # Row 2 (id 1): negatives rows 0, 1, 3 -> (0.6 + 0.6 + 0) / 3 = 0.4 (per identity: 0.3).
    x = torch.tensor([[0.0], [0.0], [0.1], [1.0]])
    loss = center_triplet_loss(x, torch.tensor([0, 0, 1, 2]), margin=0.7, anchor_stride=2)
    assert loss.item() == pytest.approx((0.3 + 0.4) / 2)


def test_center_triplet_rejects_a_zero_stride():
    with pytest.raises(ValueError, match="anchor_stride"):
        center_triplet_loss(torch.zeros(2, 1), torch.tensor([0, 1]), 0.7, anchor_stride=0)


def test_masked_cross_entropy_ignores_negative_targets():
    logits = torch.tensor([[0.0, 0.0], [100.0, -100.0], [3.0, 1.0]])
    target = torch.tensor([1, -1, 0])
    expected = (math.log(2) + math.log1p(math.exp(-2))) / 2
    assert masked_cross_entropy(logits, target).item() == pytest.approx(expected)
    assert masked_cross_entropy(logits, torch.full((3,), -1)).item() == 0.0


def test_pixel_parsing_loss_hand_value():
    # Zero logits: fg/bg CE = log 2 on every kept pixel, part CE = log 6 on the
    # foreground ones; the ignored pixel changes nothing, whatever its logits.
    logits = torch.zeros(1, 8, 2, 2)
    target = torch.tensor([[[0, 3], [6, -1]]])
    assert pixel_parsing_loss(logits, target).item() == pytest.approx(math.log(2) + math.log(6))
    logits[0, :, 1, 1] = torch.arange(8.0) * 10
    assert pixel_parsing_loss(logits, target).item() == pytest.approx(math.log(2) + math.log(6))
    # A confident right answer on the part pixel 3 -> (part class 2) lowers only that term.
    logits = torch.zeros(1, 8, 2, 2)
    logits[0, 2 + 2, 0, 1] = 50.0
    part = (0 + math.log(6)) / 2  # two part pixels: 0 and log 6
    assert pixel_parsing_loss(logits, target).item() == pytest.approx(math.log(2) + part, rel=1e-6)


def test_pixel_parsing_loss_shape_error():
    with pytest.raises(ValueError, match="does not match"):
        pixel_parsing_loss(torch.zeros(1, 8, 2, 2), torch.zeros(1, 3, 2, dtype=torch.long))


def test_smoothness_hand_value():
    # One channel [[0, 1], [2, 3]]: vertical diffs 2, 2; horizontal 1, 1 -> (2 + 1) / 2.
    z = torch.tensor([[[[0.0, 1.0], [2.0, 3.0]]]])
    assert smoothness_loss(z).item() == pytest.approx(1.5)
    assert smoothness_loss(torch.full((2, 8, 3, 4), 7.0)).item() == 0.0
    with pytest.raises(ValueError):
        smoothness_loss(torch.zeros(1, 8, 1, 4))
