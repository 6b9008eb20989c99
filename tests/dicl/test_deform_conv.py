"""The deformable convolution computes torchvision's ``deform_conv2d``, gradients included."""

from __future__ import annotations

import pytest
import torch
from torchvision.ops import deform_conv2d

from pipeline.models.dicl.deform_conv import DeformConv2dPack, deform_conv2d_sampled

CASES = [  # n, c, h, w, out, kernel, stride, padding, offset groups
    (2, 8, 9, 7, 5, 3, 1, 1, 1),
    (3, 4, 6, 5, 6, 3, 2, 1, 2),
    (2, 6, 5, 5, 4, 1, 1, 0, 1),
    (1, 3, 1, 4, 2, 3, 1, 1, 1),  # a one-pixel-high map
]


def _grads(fn, x, offset, weight, bias, stride, padding):
    out = fn(x, offset, weight, bias, stride=stride, padding=padding)
    return (out, *torch.autograd.grad(out.square().sum(), [x, offset, weight, bias]))


@pytest.mark.parametrize("scale", [0.0, 2.5])  # 0: every tap on a whole pixel (the init)
@pytest.mark.parametrize("case", CASES)
def test_values_and_gradients_match_torchvision(case, scale):
    n, c, h, w, o, k, stride, padding, groups = case
    gen = torch.Generator().manual_seed(0)
    ho, wo = (h + 2 * padding - k) // stride + 1, (w + 2 * padding - k) // stride + 1

    def rand(*shape):
        return torch.randn(*shape, generator=gen, dtype=torch.float64).requires_grad_()

    x, weight, bias = rand(n, c, h, w), rand(o, c, k, k), rand(o)
    # large shifts send taps outside the map, partly and wholly
    offset = torch.randn(n, 2 * groups * k * k, ho, wo, generator=gen, dtype=torch.float64)
    offset = (offset * scale).requires_grad_()
    expected = _grads(deform_conv2d, x, offset, weight, bias, stride, padding)
    got = _grads(deform_conv2d_sampled, x, offset, weight, bias, stride, padding)
    for name, a, b in zip(("out", "x", "offset", "weight", "bias"), expected, got, strict=True):
        torch.testing.assert_close(b, a, rtol=1e-10, atol=1e-10, msg=name)


def test_layer_starts_as_a_plain_convolution():
    torch.manual_seed(0)
    layer = DeformConv2dPack(4, 3, 3, padding=1)
    x = torch.randn(2, 4, 6, 5)
    plain = torch.nn.functional.conv2d(x, layer.weight, layer.bias, padding=1)
    torch.testing.assert_close(layer(x), plain, rtol=1e-5, atol=1e-5)
    assert layer(x[:0]).shape == (0, 3, 6, 5)


def test_bad_offset_channels_are_named():
    with pytest.raises(ValueError, match="offset has 5 channels"):
        deform_conv2d_sampled(
            torch.zeros(1, 2, 4, 4),
            torch.zeros(1, 5, 4, 4),
            torch.zeros(1, 2, 3, 3),
            None,
            padding=1,
        )
