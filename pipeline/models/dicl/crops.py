"""The Siamese crop branch's geometry: boxes cut out of the image with RoIAlign.

Paper: Wang et al., "Deep Intra-Image Contrastive Learning for Weakly Supervised
One-Step Person Search" (Pattern Recognition 2024). Each ground-truth box (at
test time, each kept detection) is resampled from the *unmasked* normalised image
to a fixed ``height x width`` (224 x 96 in the paper: a 14 x 6 map at stride 16)
with bilinear RoIAlign (aligned: pixel ``k`` covers ``[k, k + 1)``), then encoded
by the same backbone, neck and embedding as the scene.

Sampling geometry: output column ``j`` of a box ``(x1, y1, x2, y2)`` resized to
width ``W`` is the image sampled at ``x = x1 + (j + 0.5) * (x2 - x1) / W`` in
continuous coordinates, i.e. index-space position ``x - 0.5`` (averaged over
``ceil((x2 - x1) / W)`` points per bin); rows likewise.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torchvision.ops import roi_align


def crop_boxes(
    images: torch.Tensor, boxes: Sequence[torch.Tensor], size: tuple[int, int]
) -> torch.Tensor:
    """Resample every box of every image to ``size``.

    Args:
        images: (B, C, H, W) batch (normalised pixels).
        boxes: per image, (n_i, 4) boxes ``x1, y1, x2, y2`` in the batch's pixel frame.
        size: output ``(height, width)``.

    Returns:
        (sum n_i, C, height, width) crops, images in order, boxes in order.
    """
    if len(boxes) != images.shape[0]:
        raise ValueError(f"crop_boxes: {images.shape[0]} images but {len(boxes)} box lists")
    total = sum(int(b.shape[0]) for b in boxes)
    if total == 0:
        return images.new_zeros(0, images.shape[1], *size)
    return roi_align(
        images,
        [b.to(images.dtype) for b in boxes],
        output_size=tuple(size),
        spatial_scale=1.0,
        sampling_ratio=0,
        aligned=True,
    )
