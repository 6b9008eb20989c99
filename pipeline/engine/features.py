"""Feature extraction over a DataLoader, shared by clustering rounds and evaluation."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm import tqdm


@torch.no_grad()
def extract_features(
    embed: Callable[[torch.Tensor], torch.Tensor],
    loader: DataLoader,
    device: torch.device,
    *,
    desc: str = "features",
    normalize: bool = True,
) -> tuple[np.ndarray, list]:
    """Embed every batch of ``loader`` with ``embed``.

    Args:
        embed: maps an image batch (already on ``device``) to ``(B, D)`` features;
            the caller puts the model in eval mode.
        loader: yields ``(images, *rest)``; ``rest`` items are collected per sample.
        normalize: L2-normalise the features (cosine geometry, as every track uses).

    Returns:
        ``(features float32 (N, D), rest)`` where ``rest[j]`` is the list of the j-th
        non-image field of every sample, in loader order.
    """
    feats: list[np.ndarray] = []
    rest: list[list] = []
    for batch in tqdm(loader, desc=desc, leave=False, dynamic_ncols=True):
        images, *others = batch
        out = embed(images.to(device, non_blocking=True)).float()
        if normalize:
            out = torch.nn.functional.normalize(out, dim=1)
        feats.append(out.cpu().numpy())
        if not rest:
            rest = [[] for _ in others]
        for column, values in zip(rest, others, strict=True):
            column.extend(values.tolist() if torch.is_tensor(values) else list(values))
    if not feats:
        return np.zeros((0, 0), dtype=np.float32), rest
    return np.concatenate(feats).astype(np.float32, copy=False), rest
