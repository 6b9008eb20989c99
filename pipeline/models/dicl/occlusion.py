"""Occlusion-invariant contrast (OIC): mask grid cells of ground-truth boxes.

Paper: Wang et al., "Deep Intra-Image Contrastive Learning for Weakly Supervised
One-Step Person Search" (Pattern Recognition 2024). In the scene image only, each
ground-truth box is, with probability 0.5, laid with a 14 x 6 grid (rows x
columns) and ``cells`` (2) randomly chosen cells are filled with the image's
per-channel mean. The Siamese crops are taken from the unmasked image, so the
SIC and memory losses pull the occluded person towards its intact crop.

Geometry (after the official ``TwoStageDetectorsiamese.forward_train``): the box
is taken in whole pixels ``x1 = floor(bx1)``, ``x2 = floor(bx2)`` (same for y;
the official code truncates ``box + 1``, a one-pixel shift not kept here); a
cell is ``(x2 - x1) // columns`` pixels wide and ``(y2 - y1) // rows`` high;
cell ``(r, c)`` covers rows ``y1 + r*h .. y1 + (r+1)*h`` and columns
``x1 + c*w .. x1 + (c+1)*w`` (end exclusive). Cells are drawn independently
(two draws may coincide). Boxes under 4 pixels on a side are left alone (the
official code stops at the first such box of an image, skipping the rest:
here only that box is skipped). The mean is taken over the image's valid
(unpadded) area.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

MIN_BOX_SIDE = 4


def cell_rectangles(
    box: Sequence[float], grid: tuple[int, int], cells: Sequence[tuple[int, int]]
) -> list[tuple[int, int, int, int]]:
    """Pixel rectangles ``(y0, y1, x0, x1)`` (end exclusive) of grid ``cells`` in ``box``.

    Args:
        box: ``(x1, y1, x2, y2)`` in pixels.
        grid: ``(rows, columns)``.
        cells: ``(row, column)`` indices.

    Returns:
        One rectangle per cell; empty when the box is under ``MIN_BOX_SIDE`` pixels.
    """
    x1, y1, x2, y2 = (math.floor(v) for v in box)
    if x2 - x1 < MIN_BOX_SIDE or y2 - y1 < MIN_BOX_SIDE:
        return []
    rows, cols = grid
    cell_h, cell_w = (y2 - y1) // rows, (x2 - x1) // cols
    return [
        (y1 + r * cell_h, y1 + (r + 1) * cell_h, x1 + c * cell_w, x1 + (c + 1) * cell_w)
        for r, c in cells
    ]


def mask_boxes(
    images: torch.Tensor,
    boxes: Sequence[torch.Tensor],
    image_sizes: Sequence[tuple[int, int]],
    *,
    prob: float,
    grid: tuple[int, int] = (14, 6),
    cells: int = 2,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """A copy of ``images`` with random grid cells of each box filled with the channel mean.

    Args:
        images: (B, C, H, W) padded, normalised batch.
        boxes: per image, (n_i, 4) boxes ``x1, y1, x2, y2`` in the batch's pixel frame.
        image_sizes: per image, its valid ``(height, width)`` before padding.
        prob: probability that a box is masked.
        grid: ``(rows, columns)``.
        cells: cells drawn per masked box.
        generator: random source (default: torch's global generator).

    Returns:
        The masked copy; ``images`` is left unchanged.
    """
    out = images.clone()
    rows, cols = grid
    for i, (image_boxes, (h, w)) in enumerate(zip(boxes, image_sizes, strict=True)):
        fill = images[i, :, :h, :w].mean(dim=(1, 2))
        for box in image_boxes.tolist():
            if torch.rand(1, generator=generator).item() >= prob:
                continue
            drawn_rows = torch.randint(rows, (cells,), generator=generator).tolist()
            drawn_cols = torch.randint(cols, (cells,), generator=generator).tolist()
            for y0, y1, x0, x1 in cell_rectangles(
                box, grid, list(zip(drawn_rows, drawn_cols, strict=True))
            ):
                out[i, :, y0:y1, x0:x1] = fill[:, None, None]
    return out
