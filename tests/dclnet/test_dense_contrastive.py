"""Dense pixel-to-pixel contrastive loss on hand-checkable tiny maps."""

from __future__ import annotations

import math

import pytest
import torch

from pipeline.losses.dense_contrastive import dense_contrastive_loss, pair_by_identity

T = 0.05  # DCLNet's temperature: cosine 1 -> logit 20


def maps(*pixels):
    """(1, C, 1, P) map from P pixel vectors."""
    return torch.tensor(pixels, dtype=torch.float64).t().reshape(1, -1, 1, len(pixels))


def labels(*values):
    return torch.tensor(values, dtype=torch.long).reshape(1, 1, -1)


def test_identical_orthogonal_parts_give_the_hand_value():
    # Two parts, orthogonal features, the same in both images: each of the 4 anchors
    # sees its positive at logit 20 and one negative at 0: -log(e^20 / (e^20 + 1)).
    m = maps([1, 0], [0, 1])
    loss = dense_contrastive_loss(m, m.clone(), labels(1, 2), labels(1, 2), T)
    assert loss.item() == pytest.approx(math.log1p(math.exp(-20)), abs=1e-13)


def test_swapped_parts_give_the_hand_value():
    # Each positive now has cosine 0 and the negative cosine 1: -log(1 / (1 + e^20)).
    loss = dense_contrastive_loss(
        maps([1, 0], [0, 1]), maps([0, 1], [1, 0]), labels(1, 2), labels(1, 2), T
    )
    assert loss.item() == pytest.approx(math.log1p(math.exp(20)), rel=1e-9)


def test_one_part_everywhere_is_zero():
    m = maps([1, 2], [3, -1], [0.5, 0.5])
    loss = dense_contrastive_loss(m, torch.randn_like(m), labels(1, 1, 1), labels(1, 1, 1), T)
    assert loss.item() == pytest.approx(0.0, abs=1e-12)


def test_identical_maps_are_the_minimum():
    # Features equal to their part's one-hot vector: no perturbation of either map
    # makes the loss smaller.
    gen = torch.Generator().manual_seed(0)
    y = torch.tensor([[[1, 2, 3, 1, 2, 3]]])
    m = torch.nn.functional.one_hot(y - 1, 3).permute(0, 3, 1, 2).double()
    best = dense_contrastive_loss(m, m.clone(), y, y.clone(), T).item()
    for _ in range(20):
        noisy = m + 0.3 * torch.randn(m.shape, generator=gen, dtype=torch.float64)
        assert dense_contrastive_loss(m, noisy, y, y.clone(), T).item() > best


def test_ignored_pixels_contribute_nothing():
    vis = maps([1, 0], [0, 1], [0.3, 0.9])
    ir = maps([0.8, 0.1], [0.2, 1], [-1, 0.4])
    y_vis, y_ir = labels(1, 2, -1), labels(1, 2, -1)
    base = dense_contrastive_loss(vis, ir, y_vis, y_ir, T)
    # Any feature at the ignored pixels: same loss ...
    vis2, ir2 = vis.clone(), ir.clone()
    vis2[..., 2] = torch.tensor([-5.0, 7.0]).view(1, 2, 1).double()
    ir2[..., 2] = torch.tensor([9.0, 9.0]).view(1, 2, 1).double()
    assert dense_contrastive_loss(vis2, ir2, y_vis, y_ir, T).item() == pytest.approx(base.item())
    # ... and the same as without those pixels at all.
    cut = dense_contrastive_loss(vis[..., :2], ir[..., :2], labels(1, 2), labels(1, 2), T)
    assert cut.item() == pytest.approx(base.item())


def test_background_is_a_negative_but_never_an_anchor():
    # Visible: a part-1 pixel (and an ignored one). Infrared: a part-1 pixel and a
    # background pixel with the same feature. Visible anchor: -log(e^20 / (e^20 + e^20))
    # = log 2; the infrared part-1 anchor has only the visible part-1 pixel to contrast
    # with: 0; the background pixel is no anchor. Mean over 2 anchors.
    vis = maps([1, 0], [0, 1])
    ir = maps([1, 0], [1, 0])
    loss = dense_contrastive_loss(vis, ir, labels(1, -1), labels(1, 0), T)
    assert loss.item() == pytest.approx(math.log(2) / 2)


def test_anchor_without_positive_is_skipped_and_empty_is_zero_with_grad():
    vis = maps([1, 0], [0, 1]).requires_grad_(True)
    ir = maps([1, 0], [0, 1])
    # Part 2 is missing from the infrared image: only the part-1 anchors count.
    loss = dense_contrastive_loss(vis, ir, labels(1, 2), labels(1, 0), T)
    expected = math.log1p(math.exp(-20))  # both part-1 anchors: positive 20, negative 0
    assert loss.item() == pytest.approx(expected, abs=1e-13)
    empty = dense_contrastive_loss(vis, ir, labels(0, -1), labels(0, 0), T)
    assert empty.item() == 0.0
    empty.backward()
    assert torch.isfinite(vis.grad).all()


def test_gradient_is_finite_with_fully_masked_rows():
    vis = torch.randn(2, 4, 3, 2, requires_grad=True)
    ir = torch.randn(2, 4, 3, 2, requires_grad=True)
    y_vis = torch.tensor([[[1, 1], [2, -1], [0, 0]], [[-1, -1], [-1, -1], [-1, -1]]])
    y_ir = torch.tensor([[[1, 0], [2, 2], [-1, 0]], [[1, 2], [3, 4], [5, 6]]])
    loss = dense_contrastive_loss(vis, ir, y_vis, y_ir, T)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(vis.grad).all() and torch.isfinite(ir.grad).all()


def test_shape_errors_name_the_problem():
    with pytest.raises(ValueError, match="differ in shape"):
        dense_contrastive_loss(torch.zeros(1, 2, 2, 2), torch.zeros(1, 2, 2, 3), None, None)
    with pytest.raises(ValueError, match="labels"):
        dense_contrastive_loss(
            torch.zeros(1, 2, 2, 2),
            torch.zeros(1, 2, 2, 2),
            torch.zeros(1, 2, 3),
            torch.zeros(1, 2, 2),
        )


def test_pair_by_identity_zips_each_identity_in_batch_order():
    pairs = pair_by_identity(torch.tensor([7, 7, 3, 3, 9]), torch.tensor([3, 7, 3, 7, 7]))
    # id 3: visible 2,3 with infrared 0,2; id 7: visible 0,1 with infrared 1,3; 9 unpaired.
    assert pairs.tolist() == [[2, 0], [3, 2], [0, 1], [1, 3]]
    assert pair_by_identity(torch.tensor([1]), torch.tensor([2])).shape == (0, 2)
