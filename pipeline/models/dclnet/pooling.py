"""Generalized-mean (GeM) pooling and horizontal stripes, as DCLNet pools its maps.

GeM (Radenovic et al., TPAMI 2019): ``(mean_i x_i^p)^(1/p)``; p=1 is average
pooling, p -> inf max pooling. DCLNet uses p=3 for the global feature and for
each of its 6 horizontal part stripes.
"""

from __future__ import annotations

import torch
from torch import nn

# Keeps the p-th root differentiable where a whole map is zero (post-ReLU maps can be).
GEM_EPS = 1e-6


def gem(x: torch.Tensor, p: float = 3.0, eps: float = GEM_EPS) -> torch.Tensor:
    """GeM over the spatial dims of ``x`` (B, C, H, W) -> (B, C)."""
    return x.clamp(min=eps).pow(p).flatten(2).mean(dim=2).pow(1.0 / p)


class GeM(nn.Module):
    """GeM pooling with a fixed exponent (DCLNet does not learn p)."""

    def __init__(self, p: float = 3.0) -> None:
        super().__init__()
        if p <= 0:
            raise ValueError(f"GeM exponent must be > 0, got {p}")
        self.p = float(p)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return gem(x, self.p)

    def extra_repr(self) -> str:
        return f"p={self.p}"


def stripe_bounds(height: int, parts: int) -> list[tuple[int, int]]:
    """Row ranges ``[start, stop)`` of ``parts`` horizontal stripes covering ``height`` rows.

    Stripe ``i`` starts at ``floor(i * height / parts)``, so every row belongs to
    exactly one stripe even when ``parts`` does not divide ``height``.

    Raises:
        ValueError: fewer rows than stripes.
    """
    if parts < 1 or height < parts:
        raise ValueError(f"cannot cut {height} rows into {parts} stripes")
    edges = [i * height // parts for i in range(parts + 1)]
    return list(zip(edges[:-1], edges[1:], strict=True))


def stripe_gem(x: torch.Tensor, parts: int, p: float = 3.0) -> torch.Tensor:
    """GeM of each horizontal stripe: (B, C, H, W) -> (B, parts, C)."""
    pooled = [gem(x[:, :, a:b], p) for a, b in stripe_bounds(x.shape[2], parts)]
    return torch.stack(pooled, dim=1)
