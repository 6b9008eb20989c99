"""Train/test transforms: sizes, normalisation and each augmentation, checked on crafted images."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from pipeline.data.transforms import (
    IMAGENET_MEAN,
    IMAGENET_STD,
    build_test_transform,
    build_train_transform,
)

MEAN_RGB = tuple(round(255 * m) for m in IMAGENET_MEAN)  # (124, 116, 104)


def half_black_half_white(width=8, height=16) -> Image.Image:
    array = np.zeros((height, width, 3), dtype=np.uint8)
    array[:, width // 2 :] = 255
    return Image.fromarray(array)


def normalised(value: float, channel: int) -> float:
    return (value - IMAGENET_MEAN[channel]) / IMAGENET_STD[channel]


def test_test_transform_resizes_and_normalises():
    out = build_test_transform(32, 16)(Image.new("RGB", (50, 100), MEAN_RGB))
    assert out.shape == (3, 32, 16) and out.dtype == torch.float32
    # the ImageNet mean colour maps to ~0 in every channel (rounding to 8 bits: < 0.01)
    assert out.abs().max() < 0.01


def test_flip_with_probability_one_mirrors():
    t = build_train_transform(16, 8, flip_p=1.0, pad=0, erasing_p=0.0)
    out = t(half_black_half_white())
    assert torch.allclose(out[0, :, :4], torch.full((16, 4), normalised(1.0, 0)))
    assert torch.allclose(out[0, :, 4:], torch.full((16, 4), normalised(0.0, 0)))


def test_no_augmentation_is_the_identity_up_to_normalisation():
    t = build_train_transform(16, 8, flip_p=0.0, pad=0, erasing_p=0.0)
    out = t(half_black_half_white())
    assert torch.allclose(out[2, :, :4], torch.full((16, 4), normalised(0.0, 2)))
    assert torch.allclose(out[2, :, 4:], torch.full((16, 4), normalised(1.0, 2)))


def test_grayscale_gives_equal_channels():
    torch.manual_seed(0)
    t = build_train_transform(
        16, 8, grayscale_p=1.0, pad=0, flip_p=0.0, erasing_p=0.0, std=(1, 1, 1), mean=(0, 0, 0)
    )
    out = t(Image.new("RGB", (8, 16), (200, 30, 90)))
    assert torch.allclose(out[0], out[1]) and torch.allclose(out[1], out[2])
    # ITU-R 601-2 luma of (200, 30, 90): 0.299*200 + 0.587*30 + 0.114*90 = 87.67 -> 88
    assert out[0, 0, 0].item() == pytest.approx(88 / 255, abs=1 / 255)


def test_pad_and_crop_shift_the_image_in_zero_padding():
    torch.manual_seed(0)
    t = build_train_transform(
        16, 8, flip_p=0.0, pad=4, erasing_p=0.0, mean=(0, 0, 0), std=(1, 1, 1)
    )
    outs = [t(Image.new("RGB", (8, 16), (255, 255, 255))) for _ in range(20)]
    assert all(o.shape == (3, 16, 8) for o in outs)
    zero_fractions = [(o == 0).float().mean().item() for o in outs]
    assert max(zero_fractions) > 0  # some crops reach into the padding
    assert all(f <= 1 - (8 * 4) / (16 * 8) + 1e-6 for f in zero_fractions)  # shift <= pad


def test_random_erasing_fills_a_bounded_area_with_the_mean():
    torch.manual_seed(0)
    t = build_train_transform(64, 32, flip_p=0.0, pad=0, erasing_p=1.0)
    out = t(Image.new("RGB", (32, 64), (255, 255, 255)))
    erased = (out == 0).all(dim=0).float().mean().item()
    assert 0.02 <= erased <= 0.4


@pytest.mark.parametrize(
    "kwargs",
    [{"flip_p": 1.5}, {"erasing_p": -0.1}, {"pad": -1}, {"interpolation": "nearest"}],
)
def test_bad_arguments(kwargs):
    with pytest.raises(ValueError):
        build_train_transform(16, 8, **kwargs)
    with pytest.raises(ValueError, match="size must be positive"):
        build_test_transform(0, 8)
