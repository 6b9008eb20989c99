"""A picture of DCLNet's part masks: what the dense loss matches, for people to check.

One row per identity: the visible image, its class-activation part mask (the
parser's target), its parsed mask (the dense loss's labels), then the same three
for an infrared image of that identity. Background is black, ignored pixels
gray, parts 1..6 top to bottom in distinct colours. PNG bytes depend on the
pixels only.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from pipeline.data.transforms import IMAGENET_MEAN, IMAGENET_STD
from pipeline.evaluation.ranked_list import png_bytes
from pipeline.io import write_bytes
from pipeline.models.dclnet.network import DCLNet
from pipeline.models.dclnet.objective import DclnetObjective

PALETTE = np.array(
    [
        (128, 128, 128),  # -1 ignored
        (0, 0, 0),  # 0 background
        (230, 25, 75),
        (245, 130, 48),
        (255, 225, 25),
        (60, 180, 75),
        (0, 130, 200),
        (145, 30, 180),
        (240, 50, 230),
        (70, 240, 240),
    ],
    dtype=np.uint8,
)
GAP = 4


def _image(tensor: torch.Tensor) -> Image.Image:
    mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD).view(3, 1, 1)
    pixels = ((tensor.cpu() * std + mean).clamp(0, 1) * 255).round().byte()
    return Image.fromarray(pixels.permute(1, 2, 0).numpy())


def _mask(labels: torch.Tensor, size: tuple[int, int]) -> Image.Image:
    index = (labels.cpu().numpy() + 1).clip(0, len(PALETTE) - 1)
    return Image.fromarray(PALETTE[index]).resize(size, Image.Resampling.NEAREST)


@torch.no_grad()
def render_part_masks(
    model: DCLNet,
    objective: DclnetObjective,
    visible: torch.Tensor,
    infrared: torch.Tensor,
    labels: torch.Tensor,
) -> Image.Image:
    """Rows of (visible, CAM mask, parsed mask, infrared, CAM mask, parsed mask).

    Args:
        model: the network (put in eval mode here and restored after).
        objective: supplies the mask construction the training used.
        visible, infrared: (B, 3, H, W) normalised images, row i of both one identity.
        labels: (B,) their identity labels.
    """
    was_training = model.training
    model.eval()
    try:
        out = model(visible, infrared)
        masks = objective.masks(
            out,
            torch.cat((labels, labels)),
            torch.cat((visible, infrared)),
            model.part_classifier.weight,
        )
    finally:
        model.train(was_training)
    b, _, h, w = visible.shape
    canvas = Image.new("RGB", (6 * w + 7 * GAP, b * h + (b + 1) * GAP), (255, 255, 255))
    for i in range(b):
        tiles = []
        for half, images in ((0, visible), (b, infrared)):
            tiles += [
                _image(images[i]),
                _mask(masks.cam[half + i], (w, h)),
                _mask(masks.parsed[half + i], (w, h)),
            ]
        for j, tile in enumerate(tiles):
            canvas.paste(tile, (GAP + j * (w + GAP), GAP + i * (h + GAP)))
    return canvas


def write_part_masks(path: str | Path, *args, **kwargs) -> None:
    """:func:`render_part_masks` as a deterministic PNG at ``path`` (atomic)."""
    write_bytes(path, png_bytes(render_part_masks(*args, **kwargs)))
