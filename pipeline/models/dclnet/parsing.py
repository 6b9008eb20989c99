"""Part-aware parsing (PAP) of DCLNet: a pixel classifier over multi-level features.

Each modality has its own linear pixel classifier (no bias) over the channel
concatenation of the stem, layer1, layer2, layer3 and layer4 maps, all resized
(bilinear) to the layer1 resolution: 8 logits per pixel, 2 foreground/background
and 6 part logits. As in the official code the features are detached: only the
classifier learns from the parsing losses.

A linear classifier commutes with bilinear resizing (both are linear, one across
channels, one across pixels), so each level's share of the weight is applied at
the level's own resolution and the 8-channel logits are resized and summed. This
equals classifying the concatenated resized maps (tested) without building a
(B, 3904, 72, 36) tensor. The resizing itself is two small matrix products:
exact bilinear interpolation (``align_corners=False``), and deterministic on
every device, unlike ``interpolate``'s CUDA backward.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

FG_LOGITS = 2  # background, foreground


def linear_resize_matrix(n_in: int, n_out: int, device=None, dtype=None) -> torch.Tensor:
    """(n_out, n_in) matrix of 1-D linear interpolation, ``align_corners=False``.

    Row ``o`` holds the weights of the input samples that make output ``o``,
    exactly as ``F.interpolate(mode="linear")`` computes them.
    """
    basis = torch.eye(n_in, device=device, dtype=dtype).unsqueeze(0)  # (1, n_in, n_in)
    return F.interpolate(basis, size=n_out, mode="linear", align_corners=False)[0].t()


def bilinear_resize(x: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Bilinear resize of (B, C, h, w) to ``size`` as ``A_h @ x @ A_w^T`` (separable)."""
    h, w = x.shape[-2:]
    if (h, w) == tuple(size):
        return x
    rows = linear_resize_matrix(h, size[0], x.device, x.dtype)
    cols = linear_resize_matrix(w, size[1], x.device, x.dtype)
    return torch.matmul(torch.matmul(rows, x), cols.t())


class PixelClassifier(nn.Module):
    """One modality's PAP classifier: ``2 + parts`` logits per pixel at the layer1 size.

    Args:
        level_channels: channels of the maps it reads (stem, layer1, ..., layer4).
        parts: number of part classes (6).
    """

    def __init__(self, level_channels: Sequence[int], parts: int) -> None:
        super().__init__()
        self.level_channels = tuple(int(c) for c in level_channels)
        self.num_logits = FG_LOGITS + parts
        self.weight = nn.Parameter(torch.empty(self.num_logits, sum(self.level_channels)))
        # Official init of the pixel classifier: N(0, 0.001).
        nn.init.normal_(self.weight, 0.0, 0.001)

    def forward(self, maps: Sequence[torch.Tensor], size: tuple[int, int]) -> torch.Tensor:
        """Logits (B, 2 + parts, *size) from the detached level maps."""
        if len(maps) != len(self.level_channels):
            raise ValueError(f"expected {len(self.level_channels)} maps, got {len(maps)}")
        out = None
        for w, fmap in zip(self.weight.split(self.level_channels, dim=1), maps, strict=True):
            logits = torch.einsum("kc,bchw->bkhw", w, fmap.detach())
            logits = bilinear_resize(logits, size)
            out = logits if out is None else out + logits
        return out
