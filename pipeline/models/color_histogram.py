"""Colour-histogram re-id descriptor: the ``hist_`` baseline of every track.

A classic hand-crafted appearance descriptor in the line of the colour
histograms over horizontal stripes used before deep re-id (e.g. Farenzena et
al., "Person Re-identification by Symmetry-Driven Accumulation of Local
Features", CVPR 2010; Liao et al., LOMO, CVPR 2015): the image is resized to a
fixed size, cut into horizontal stripes (head, torso, legs...), and each stripe
gets a joint HSV histogram. Stripes are normalised to sum 1, square-rooted
(Hellinger kernel, so Euclidean distance compares distributions fairly) and the
concatenation is L2-normalised. It sees colour layout only: no shape, no
texture, no infrared cue, which is what the baseline is meant to show.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
from PIL import Image

ImageLike = str | Path | Image.Image | np.ndarray


def _load(item: ImageLike, size: tuple[int, int]) -> np.ndarray:
    """One image as uint8 HSV (height, width, 3) at ``size`` = (width, height)."""
    if isinstance(item, (str, Path)):
        try:
            with Image.open(item) as img:
                pil = img.convert("RGB")
        except (OSError, ValueError) as exc:
            raise ValueError(f"{item}: cannot read the image ({exc})") from exc
    elif isinstance(item, Image.Image):
        pil = item.convert("RGB")
    else:
        arr = np.asarray(item)
        if arr.dtype != np.uint8 or arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[2] != 3):
            raise ValueError(
                f"image array: expected uint8 (H, W) or (H, W, 3), got {arr.dtype} {arr.shape}"
            )
        pil = Image.fromarray(arr).convert("RGB")
    pil = pil.resize(size, Image.Resampling.BILINEAR)
    return np.asarray(pil.convert("HSV"), dtype=np.uint8)


def color_histogram_features(
    images: Iterable[ImageLike],
    bins: Sequence[int] = (8, 4, 4),
    stripes: int = 6,
    size: tuple[int, int] = (64, 128),
) -> np.ndarray:
    """Striped joint-HSV histograms of a list of images.

    Args:
        images: file paths, PIL images or uint8 arrays (gray or RGB).
        bins: bins of hue, saturation and value (PIL's 0..255 HSV).
        stripes: horizontal stripes, top to bottom.
        size: (width, height) every image is resized to first.

    Returns:
        float32 (N, stripes * prod(bins)), each row of unit L2 norm.
    """
    bins = tuple(int(b) for b in bins)
    if len(bins) != 3 or min(bins) < 1:
        raise ValueError(
            f"bins={bins}: expected three positive bin counts (hue, saturation, value)"
        )
    if not 1 <= stripes <= size[1]:
        raise ValueError(f"stripes={stripes}: expected 1..{size[1]} (the resized height)")
    per_stripe = bins[0] * bins[1] * bins[2]
    # Row of each pixel -> its stripe; equal stripes up to rounding.
    stripe_of_row = (np.arange(size[1]) * stripes) // size[1]
    offsets = (stripe_of_row * per_stripe)[:, None]
    rows = []
    for item in images:
        hsv = _load(item, size).astype(np.int64)
        h = hsv[..., 0] * bins[0] // 256
        s = hsv[..., 1] * bins[1] // 256
        v = hsv[..., 2] * bins[2] // 256
        index = offsets + (h * bins[1] + s) * bins[2] + v
        hist = np.bincount(index.ravel(), minlength=stripes * per_stripe).astype(np.float64)
        hist = hist.reshape(stripes, per_stripe)
        hist /= hist.sum(axis=1, keepdims=True)
        feature = np.sqrt(hist).ravel()
        rows.append(feature / np.linalg.norm(feature))
    if not rows:
        return np.zeros((0, stripes * per_stripe), dtype=np.float32)
    return np.stack(rows).astype(np.float32)
