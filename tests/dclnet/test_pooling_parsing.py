"""GeM pooling, stripes and the part-aware parser's exact multi-level classification."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from pipeline.models.dclnet.parsing import PixelClassifier, bilinear_resize, linear_resize_matrix
from pipeline.models.dclnet.pooling import GeM, gem, stripe_bounds, stripe_gem


def test_gem_hand_values():
    x = torch.tensor([1.0, 2.0]).view(1, 1, 1, 2)
    assert gem(x, p=3).item() == pytest.approx(4.5 ** (1 / 3))
    assert gem(x, p=1).item() == pytest.approx(1.5)
    assert GeM(3)(torch.full((2, 3, 4, 5), 0.7)).allclose(torch.full((2, 3), 0.7))
    # Large p approaches the maximum.
    assert gem(
        torch.tensor([0.1, 0.2, 5.0], dtype=torch.float64).view(1, 1, 1, 3), p=60
    ).item() == pytest.approx(5.0 * (1 / 3) ** (1 / 60))
    with pytest.raises(ValueError):
        GeM(0)


def test_gem_gradient_finite_on_zero_maps():
    x = torch.zeros(1, 2, 3, 3, requires_grad=True)
    gem(x).sum().backward()
    assert torch.isfinite(x.grad).all()


def test_stripe_bounds_cover_every_row():
    assert stripe_bounds(18, 6) == [(0, 3), (3, 6), (6, 9), (9, 12), (12, 15), (15, 18)]
    assert stripe_bounds(8, 3) == [(0, 2), (2, 5), (5, 8)]
    with pytest.raises(ValueError):
        stripe_bounds(4, 6)


def test_stripe_gem_pools_each_stripe():
    x = torch.arange(6.0).view(1, 1, 6, 1).repeat(1, 2, 1, 2)  # rows 0..5
    out = stripe_gem(x + 1, parts=3, p=1)  # stripes {1,2}, {3,4}, {5,6}
    assert out.shape == (1, 3, 2)
    assert out[0, :, 0].tolist() == pytest.approx([1.5, 3.5, 5.5])


@pytest.mark.parametrize("n_in,n_out", [(4, 16), (9, 36), (5, 5), (6, 4)])
def test_linear_resize_matrix_matches_interpolate(n_in, n_out):
    x = torch.randn(3, 2, n_in, dtype=torch.float64)
    expected = F.interpolate(x, size=n_out, mode="linear", align_corners=False)
    got = x @ linear_resize_matrix(n_in, n_out, dtype=torch.float64).t()
    assert torch.allclose(got, expected)


def test_bilinear_resize_matches_interpolate():
    x = torch.randn(2, 3, 5, 3, dtype=torch.float64)
    expected = F.interpolate(x, size=(20, 12), mode="bilinear", align_corners=False)
    assert torch.allclose(bilinear_resize(x, (20, 12)), expected)


def test_pixel_classifier_equals_classifying_the_concatenated_resized_maps():
    torch.manual_seed(0)
    channels = (4, 6, 8, 10, 12)
    sizes = ((8, 4), (8, 4), (4, 2), (2, 1), (2, 1))
    maps = [
        torch.randn(2, c, *s, dtype=torch.float64) for c, s in zip(channels, sizes, strict=True)
    ]
    clf = PixelClassifier(channels, parts=6).double()
    torch.nn.init.normal_(clf.weight)
    got = clf(maps, (8, 4))
    stacked = torch.cat(
        [F.interpolate(m, size=(8, 4), mode="bilinear", align_corners=False) for m in maps], dim=1
    )
    expected = torch.einsum("kc,bchw->bkhw", clf.weight, stacked)
    assert got.shape == (2, 8, 8, 4)
    assert torch.allclose(got, expected)


def test_pixel_classifier_trains_only_itself():
    maps = [torch.randn(1, 3, 4, 2, requires_grad=True) for _ in range(2)]
    clf = PixelClassifier((3, 3), parts=6)
    clf(maps, (4, 2)).sum().backward()
    assert clf.weight.grad is not None
    assert all(m.grad is None for m in maps)
