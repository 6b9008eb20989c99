"""Semantic rectification (SRM) of DCLNet: part masks from class activations and parsing.

Label maps at the layer1 resolution use one convention throughout:
``-1`` ignored (pixels random erasing blanked), ``0`` background, ``i + 1`` part ``i``.

* :func:`cam_part_masks`: the class-activation part masks. For stripe ``i`` of
  the layer4 map, the activation of an image's class is the dot product of
  each pixel with the part classifier's weights for that stripe; it is min-max
  normalised within the stripe, resized (bilinear) to the stripe's rows at the
  layer1 size, and a pixel above the stripe's mean is foreground of part ``i``.
  These masks supervise the part-aware parser (pixel losses).
* :func:`parsing_masks`: the parser's own prediction, the mask the dense loss
  uses: foreground where the fg/bg logits say so, labelled with the best part.
  Rectification: a pixel's part may only come from its own stripe or its
  ``window`` neighbours above and below, so a parse that puts "feet" on the head
  rows is pulled back to the body layout the class activations taught.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from pipeline.models.dclnet.parsing import FG_LOGITS
from pipeline.models.dclnet.pooling import stripe_bounds

IGNORE = -1
BACKGROUND = 0


@torch.no_grad()
def cam_part_masks(
    high_map: torch.Tensor,
    part_weight: torch.Tensor,
    labels: torch.Tensor,
    parts: int,
    size: tuple[int, int],
) -> torch.Tensor:
    """Class-activation part masks.

    Args:
        high_map: layer4 maps (B, C, h, w).
        part_weight: the part classifier's weight (num_classes, parts * C); columns
            ``[i * C, (i + 1) * C)`` score stripe ``i``.
        labels: (B,) the class whose activation is used (true or predicted id).
        parts: number of stripes.
        size: output (H, W), the layer1 resolution.

    Returns:
        int64 (B, H, W): 0 background, ``i + 1`` foreground of stripe ``i``.
    """
    b, c, h, _ = high_map.shape
    if part_weight.shape[1] != parts * c:
        raise ValueError(f"part classifier has {part_weight.shape[1]} inputs, expected {parts * c}")
    weights = part_weight[labels].view(b, parts, c).to(high_map.dtype)
    out = torch.zeros((b, *size), dtype=torch.long, device=high_map.device)
    for i, ((a4, b4), (a1, b1)) in enumerate(
        zip(stripe_bounds(h, parts), stripe_bounds(size[0], parts), strict=True)
    ):
        cam = torch.einsum("bc,bchw->bhw", weights[:, i], high_map[:, :, a4:b4])
        low = cam.flatten(1).min(dim=1).values.view(b, 1, 1)
        high = cam.flatten(1).max(dim=1).values.view(b, 1, 1)
        # A flat stripe (max == min) has no evidence: it becomes all background.
        cam = (cam - low) / (high - low).clamp(min=torch.finfo(cam.dtype).tiny)
        cam = F.interpolate(cam.unsqueeze(1), size=(b1 - a1, size[1]), mode="bilinear")
        cam = cam.squeeze(1)
        mean = cam.flatten(1).mean(dim=1).view(b, 1, 1)
        out[:, a1:b1] = (cam > mean).long() * (i + 1)
    return out


def stripe_window_mask(height: int, parts: int, window: int | None, device=None) -> torch.Tensor:
    """Bool (height, parts): which part labels each row may take (all when ``window`` is None)."""
    allowed = torch.ones((height, parts), dtype=torch.bool, device=device)
    if window is None:
        return allowed
    for i, (a, b) in enumerate(stripe_bounds(height, parts)):
        row = torch.zeros(parts, dtype=torch.bool, device=device)
        row[max(0, i - window) : min(parts, i + window + 1)] = True
        allowed[a:b] = row
    return allowed


@torch.no_grad()
def parsing_masks(pixel_logits: torch.Tensor, window: int | None = 1) -> torch.Tensor:
    """The parser's label map (B, H, W) from its logits (B, 2 + parts, H, W).

    Args:
        pixel_logits: fg/bg logits first, then one logit per part.
        window: stripes each side a row's part may come from (None: any part).

    Returns:
        int64: 0 where the background logit wins, else ``1 + argmax`` of the allowed parts.
    """
    fg = pixel_logits[:, :FG_LOGITS].argmax(dim=1) == 1
    part_logits = pixel_logits[:, FG_LOGITS:]
    parts, height = part_logits.shape[1], part_logits.shape[2]
    allowed = stripe_window_mask(height, parts, window, pixel_logits.device)  # (H, parts)
    allowed = allowed.t().view(1, parts, height, 1)
    part_logits = part_logits.masked_fill(~allowed, float("-inf"))
    return torch.where(fg, part_logits.argmax(dim=1) + 1, BACKGROUND)


def apply_ignore(masks: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """Set ``IGNORE`` where ``keep`` (B, H, W bool) is False (erased pixels)."""
    return torch.where(keep, masks, IGNORE)


def kept_pixels(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bool (B, *size): pixels random erasing left alone, at the layer1 resolution.

    Random erasing writes 0 into every channel of the normalised image; a real
    pixel is never exactly 0 in all three (ImageNet means are not multiples of
    1/255), so all-zero pixels are the erased ones. Resized by nearest neighbour.
    """
    kept = (images != 0).any(dim=1, keepdim=True).float()
    return F.interpolate(kept, size=size, mode="nearest").squeeze(1) > 0.5
