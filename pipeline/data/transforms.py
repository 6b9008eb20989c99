"""Image transforms of the re-id tracks, built from plain arguments (torchvision v2).

Training follows the strong re-id baseline (Luo et al., "Bag of Tricks and a
Strong Baseline for Deep Person Re-identification", CVPRW 2019) used by SCL and,
through AGW, by DCLNet: resize to H x W, (optional) random grayscale, horizontal
flip, zero padding then a random H x W crop, ImageNet normalisation, random
erasing (Zhong et al., AAAI 2020; area 2-40 %, aspect 0.3-3.3). Erasing runs after
normalisation and fills with 0, i.e. with the ImageNet mean colour, as the
baseline does. DCLNet applies random grayscale (p = 0.5) to RGB images only: build
one transform per modality and hand both to ``ReidImageDataset``. The random
draws use torch's global generator, which the DataLoader seeds per worker.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

import torch
from torchvision.transforms import v2

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
ERASING_SCALE = (0.02, 0.4)
ERASING_RATIO = (0.3, 3.3)
INTERPOLATIONS = {
    "bilinear": v2.InterpolationMode.BILINEAR,
    "bicubic": v2.InterpolationMode.BICUBIC,
}


def _check(height: int, width: int, **probabilities: float) -> None:
    if height < 1 or width < 1:
        raise ValueError(f"transform size must be positive, got {height}x{width}")
    for name, p in probabilities.items():
        if not 0.0 <= p <= 1.0:
            raise ValueError(f"{name} must be a probability in [0, 1], got {p}")


def _resize(height: int, width: int, interpolation: str) -> v2.Resize:
    if interpolation not in INTERPOLATIONS:
        raise ValueError(f"interpolation {interpolation!r} not in {sorted(INTERPOLATIONS)}")
    return v2.Resize((height, width), interpolation=INTERPOLATIONS[interpolation])


def _to_normalized_tensor(mean: Sequence[float], std: Sequence[float]) -> list:
    return [
        v2.ToImage(),
        v2.ToDtype(torch.float32, scale=True),
        v2.Normalize(mean=list(mean), std=list(std)),
    ]


def build_train_transform(
    height: int,
    width: int,
    *,
    flip_p: float = 0.5,
    pad: int = 10,
    erasing_p: float = 0.5,
    grayscale_p: float = 0.0,
    interpolation: str = "bilinear",
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
) -> Callable:
    """The training transform: PIL image -> normalised float tensor (3, H, W).

    Args:
        height, width: output size in pixels.
        flip_p: probability of a horizontal flip.
        pad: zero padding on every side before the random H x W crop (0: no pad+crop).
        erasing_p: probability of random erasing.
        grayscale_p: probability of turning the image to gray (3 equal channels).
        interpolation: ``bilinear`` or ``bicubic`` resizing.
        mean, std: per-channel normalisation.
    """
    _check(height, width, flip_p=flip_p, erasing_p=erasing_p, grayscale_p=grayscale_p)
    if pad < 0:
        raise ValueError(f"pad must be >= 0, got {pad}")
    steps: list = [_resize(height, width, interpolation)]
    if grayscale_p > 0:
        steps.append(v2.RandomGrayscale(p=grayscale_p))
    if flip_p > 0:
        steps.append(v2.RandomHorizontalFlip(p=flip_p))
    if pad > 0:
        steps += [v2.Pad(pad, fill=0), v2.RandomCrop((height, width))]
    steps += _to_normalized_tensor(mean, std)
    if erasing_p > 0:
        steps.append(
            v2.RandomErasing(p=erasing_p, scale=ERASING_SCALE, ratio=ERASING_RATIO, value=0.0)
        )
    return v2.Compose(steps)


def build_test_transform(
    height: int,
    width: int,
    *,
    interpolation: str = "bilinear",
    mean: Sequence[float] = IMAGENET_MEAN,
    std: Sequence[float] = IMAGENET_STD,
) -> Callable:
    """The evaluation transform: resize to H x W and normalise, nothing random."""
    _check(height, width)
    return v2.Compose([_resize(height, width, interpolation), *_to_normalized_tensor(mean, std)])
