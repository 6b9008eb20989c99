"""L1 smoothness ("continuous") loss on DCLNet's pixel parsing logits.

Sun et al., ACM MM 2022: neighbouring pixels should carry similar parsing
logits, so the mean absolute difference between vertically adjacent logits and
the one between horizontally adjacent logits are averaged:

    L = (mean |z[:, :, i+1, j] - z[:, :, i, j]| + mean |z[:, :, i, j+1] - z[:, :, i, j]|) / 2
"""

from __future__ import annotations

import torch


def smoothness_loss(pixel_logits: torch.Tensor) -> torch.Tensor:
    """Mean L1 difference of neighbouring logits, averaged over both directions.

    Args:
        pixel_logits: (B, K, H, W) with H, W >= 2.
    """
    if pixel_logits.ndim != 4 or min(pixel_logits.shape[2:]) < 2:
        raise ValueError(f"expected (B, K, H>=2, W>=2) logits, got {tuple(pixel_logits.shape)}")
    vertical = (pixel_logits[:, :, 1:] - pixel_logits[:, :, :-1]).abs().mean()
    horizontal = (pixel_logits[:, :, :, 1:] - pixel_logits[:, :, :, :-1]).abs().mean()
    return 0.5 * (vertical + horizontal)
