"""Part masks of DCLNet: class activations, the parser's labels and semantic rectification.

Label maps at the layer1 resolution use one convention throughout:
``-1`` ignored (pixels random erasing blanked), ``0`` background, ``i + 1`` part ``i``.

* :func:`cam_part_masks`: the class-activation part masks (the official
  ``get_CAM_part``, sunhz0117/DCLNet ``CAM.py:33-61``). For stripe ``i`` of the
  layer4 map, the activation of an image's class is the dot product of each pixel
  with the part classifier's weights for that stripe; it is min-max normalised
  within the stripe, resized (bilinear) to the stripe's rows at the layer1 size,
  and a pixel above the stripe's mean is foreground of part ``i``. These masks
  supervise the part-aware parser (pixel losses).
* :func:`parsing_masks`: the parser's own prediction (PAP), ``fg x (best part + 1)``
  as ``train_ddag.py:384`` computes it.
* :func:`stripe_masks`: without PAP, every pixel of stripe ``i`` is part ``i``
  (the official "Idol Mask", ``train_ddag.py:445-449``).
* :func:`remask`: semantic rectification (SRM), the official ``remask``
  (``loss.py:415-471``): each part's prototype is the mean of its pixels'
  L2-normalised layer1 features; every pixel of stripe ``i`` takes the part among
  stripes ``i - window .. i + window`` whose prototype it is most similar to
  (cosine); its foreground comes from the given mask (the parser's), or without
  one from a similarity above its stripe's mean.
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


@torch.no_grad()
def parsing_masks(pixel_logits: torch.Tensor) -> torch.Tensor:
    """The parser's label map (B, H, W) from its logits (B, 2 + parts, H, W).

    Returns:
        int64: 0 where the background logit wins, else ``1 + argmax`` of the part logits.
    """
    fg = pixel_logits[:, :FG_LOGITS].argmax(dim=1) == 1
    return torch.where(fg, pixel_logits[:, FG_LOGITS:].argmax(dim=1) + 1, BACKGROUND)


def stripe_masks(batch: int, size: tuple[int, int], parts: int, device=None) -> torch.Tensor:
    """int64 (batch, H, W): every pixel of horizontal stripe ``i`` labelled ``i + 1``."""
    out = torch.empty((batch, *size), dtype=torch.long, device=device)
    for i, (a, b) in enumerate(stripe_bounds(size[0], parts)):
        out[:, a:b] = i + 1
    return out


@torch.no_grad()
def remask(
    feature_map: torch.Tensor,
    part_labels: torch.Tensor,
    parts: int,
    window: int,
    foreground: torch.Tensor | None = None,
) -> torch.Tensor:
    """Semantic rectification: the official ``remask`` (sunhz0117/DCLNet ``loss.py:415``).

    Stripes follow the official flat cut: ``n = H * W // parts`` pixels each in
    row-major order (whole rows when ``parts`` divides ``H``); pixels past
    ``parts * n`` stay background, as there. A part with no pixel in an image has
    no prototype and is never chosen (the official mean of no pixels is NaN); a
    pixel whose window holds no prototype is background.

    Args:
        feature_map: (B, C, H, W) layer1 maps.
        part_labels: (B, H, W) int: ``i + 1`` part ``i``; 0 background and -1
            ignored pixels build no prototype.
        parts: number of parts.
        window: stripes each side whose parts a pixel may take (official: 1).
        foreground: (B, H, W) labels whose ``> 0`` pixels are foreground (the
            official ``mask`` argument); None: a pixel is foreground when its best
            similarity exceeds the mean best similarity of its stripe.

    Returns:
        int64 (B, H, W): 0 background, ``i + 1`` part ``i``.
    """
    b, c, h, w = feature_map.shape
    if tuple(part_labels.shape) != (b, h, w):
        raise ValueError(f"part labels {tuple(part_labels.shape)} do not match maps {(b, h, w)}")
    if window < 0:
        raise ValueError(f"window must be >= 0, got {window}")
    pixels = h * w
    per_stripe = pixels // parts
    if per_stripe < 1:
        raise ValueError(f"cannot cut {pixels} pixels into {parts} stripes")
    feats = F.normalize(feature_map.flatten(2).float(), dim=1)  # (B, C, P)
    labels = part_labels.reshape(b, pixels)
    members = labels.unsqueeze(1) == torch.arange(1, parts + 1, device=labels.device).view(
        1, parts, 1
    )  # (B, parts, P)
    counts = members.sum(dim=2)  # (B, parts)
    sums = torch.bmm(members.float(), feats.transpose(1, 2))  # (B, parts, C)
    prototypes = F.normalize(sums / counts.clamp(min=1).unsqueeze(2), dim=2)
    similarity = torch.bmm(feats.transpose(1, 2), prototypes.transpose(1, 2)).clamp(-1, 1)

    stripe = torch.arange(pixels, device=labels.device) // per_stripe  # (P,), == parts past the cut
    part = torch.arange(parts, device=labels.device)
    allowed = (part.view(1, -1) - stripe.view(-1, 1)).abs() <= window  # (P, parts)
    allowed = allowed.unsqueeze(0) & (counts > 0).unsqueeze(1)  # (B, P, parts)
    best, choice = similarity.masked_fill(~allowed, float("-inf")).max(dim=2)  # (B, P)
    has_choice = torch.isfinite(best)
    if foreground is None:
        keep = torch.zeros_like(has_choice)
        for i in range(parts):
            rows = slice(i * per_stripe, (i + 1) * per_stripe)
            valid = has_choice[:, rows]
            scores = best[:, rows].masked_fill(~valid, 0.0)
            mean = scores.sum(dim=1, keepdim=True) / valid.sum(dim=1, keepdim=True).clamp(min=1)
            keep[:, rows] = valid & (scores > mean)
    else:
        keep = foreground.reshape(b, pixels) > 0
    keep = keep & has_choice & (stripe < parts).unsqueeze(0)
    return torch.where(keep, choice + 1, BACKGROUND).view(b, h, w)


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
