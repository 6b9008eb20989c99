"""Pixel (parsing) cross-entropy of DCLNet's part-aware parser.

Sun et al., ACM MM 2022. The parser's 8 logits per pixel are supervised by the
class-activation part masks (see ``pipeline.models.dclnet.part_masks``): a
foreground/background cross-entropy over the first two logits for every pixel,
plus a part cross-entropy over the remaining logits for foreground pixels only
(label ``k > 0`` -> part class ``k - 1``). Pixels labelled ``-1`` (erased by
augmentation) are left out of both terms.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

FG_LOGITS = 2


def masked_cross_entropy(logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over rows whose target is >= 0; 0 when there are none.

    Args:
        logits: (N, K).
        target: (N,) int, negative = ignored.
    """
    valid = target >= 0
    log_p = F.log_softmax(logits, dim=1)
    picked = log_p.gather(1, target.clamp(min=0).unsqueeze(1)).squeeze(1)
    return -(picked * valid).sum() / valid.sum().clamp(min=1)


def pixel_parsing_loss(pixel_logits: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Foreground/background CE + part CE.

    Args:
        pixel_logits: (B, 2 + parts, H, W), fg/bg logits first (index 1 = foreground).
        target: (B, H, W) int: ``-1`` ignored, ``0`` background, ``k`` part ``k - 1``.

    Returns:
        Scalar: the sum of the two mean cross-entropies.
    """
    b, k, h, w = pixel_logits.shape
    if tuple(target.shape) != (b, h, w):
        raise ValueError(f"target {tuple(target.shape)} does not match logits {(b, k, h, w)}")
    flat = pixel_logits.permute(0, 2, 3, 1).reshape(-1, k)
    t = target.reshape(-1)
    fg_target = torch.where(t < 0, -1, (t > 0).long())
    part_target = torch.where(t > 0, t - 1, -1)
    return masked_cross_entropy(flat[:, :FG_LOGITS], fg_target) + masked_cross_entropy(
        flat[:, FG_LOGITS:], part_target
    )
