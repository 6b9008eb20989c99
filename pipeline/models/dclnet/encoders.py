"""Row encoders shared by evaluation and validation: DCLNet features and colour histograms.

Each row is encoded by its own modality's stream (visible or infrared);
features are L2-normalised so that :func:`cosine_distance` ranks them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from pipeline.data.reid_index import IndexRow
from pipeline.engine.features import extract_features
from pipeline.models.color_histogram import color_histogram_features
from pipeline.models.dclnet.data import eval_dataset
from pipeline.models.dclnet.network import DCLNet
from pipeline.models.dclnet.settings import DclnetSettings

Encoder = Callable[[Sequence[IndexRow]], np.ndarray]


def model_encoder(
    model: DCLNet, settings: DclnetSettings, device: torch.device, root: Path
) -> Encoder:
    """Rows -> L2-normalised BNNeck features, each row through its modality's stream."""
    model = model.to(device).eval()

    def encode(rows: Sequence[IndexRow]) -> np.ndarray:
        out: np.ndarray | None = None
        for modality in ("visible", "infrared"):
            idx = [i for i, r in enumerate(rows) if r.modality == modality]
            if not idx:
                continue
            loader = DataLoader(
                eval_dataset([rows[i] for i in idx], settings.input, root),
                batch_size=settings.eval.batch_size,
                shuffle=False,
            )
            feats, _ = extract_features(
                lambda x, m=modality: model.embed(x, m), loader, device, desc=f"{modality} features"
            )
            if out is None:
                out = np.zeros((len(rows), feats.shape[1]), dtype=np.float32)
            out[idx] = feats
        return out

    return encode


def histogram_encoder(root: Path) -> Encoder:
    """Rows -> colour-histogram descriptors (already L2-normalised)."""

    def encode(rows: Sequence[IndexRow]) -> np.ndarray:
        return color_histogram_features(root / r.path for r in rows)

    return encode


def cosine_distance(q: np.ndarray, g: np.ndarray) -> np.ndarray:
    """1 - cosine similarity of L2-normalised rows, float64."""
    return 1.0 - q.astype(np.float64) @ g.astype(np.float64).T
