"""Validation of the SCL track on held-out train identities (``scl.validation.pids``).

Those identities never reach training (``data.train_dataset(held_out=...)``); their
images are split as Market-1501's test set is: the first image of each identity and
camera (path order) is a query, the others are the gallery, and the Market-1501
protocol (same id and camera removed per query) scores them with the test distance.
Settings are chosen on these figures, never on the test split. The untrained network
(``val_init_``) and the colour histogram (``val_hist_``) are scored once, beside them.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from pipeline.evaluation.reid import evaluate_rank
from pipeline.models.color_histogram import color_histogram_features
from pipeline.models.scl.data import loader, test_dataset
from pipeline.models.scl.evaluate import histogram_distance_blocks, mixed_distance_blocks
from pipeline.models.scl.rounds import extract_embeddings
from pipeline.models.scl.settings import SCLSettings


def query_mask(pids: np.ndarray, cameras: np.ndarray) -> np.ndarray:
    """True for the first image of each (identity, camera) pair, in the given order."""
    seen: set[tuple[int, int]] = set()
    mask = np.zeros(len(pids), dtype=bool)
    for i, key in enumerate(zip(pids.tolist(), cameras.tolist(), strict=True)):
        if key not in seen:
            seen.add(key)
            mask[i] = True
    return mask


class Validator:
    """Scores a network on the held-out identities: ``validator(net) -> {val_mAP, ...}``.

    Args:
        settings: resolved ``scl`` settings (``validation.pids``, data sizes, eval distance).
        index_csv, root: the processed dataset and the folder its paths are relative to.
        device: where features are computed.
        seed: seeds the loader (no randomness is drawn: the test transform is fixed).
    """

    def __init__(
        self, settings: SCLSettings, index_csv: str | Path, root: str | Path, device, seed: int
    ) -> None:
        d = settings.data
        self.settings, self.device, self.seed = settings, device, seed
        pids = settings.validation.pids
        self.dataset = test_dataset(
            index_csv, root, "train", height=d.height, width=d.width, pids=pids
        )
        missing = sorted(set(pids) - set(self.dataset.pids.tolist()))
        if missing:
            raise ValueError(f"scl.validation.pids: {missing} have no train images in {index_csv}")
        self.is_query = query_mask(self.dataset.pids, self.dataset.cameras)
        root = Path(root)
        self.histograms = color_histogram_features([root / p for p in self.dataset.paths])

    def _rank(self, blocks) -> dict[str, float]:
        q, g = self.is_query, ~self.is_query
        pids, cams = self.dataset.pids, self.dataset.cameras
        result = evaluate_rank(blocks, pids[q], pids[g], cams[q], cams[g], max_rank=10)
        return {"mAP": float(result["mAP"]), "rank1": float(result["cmc"][0])}

    @torch.no_grad()
    def __call__(self, net: torch.nn.Module, prefix: str = "val_") -> dict[str, float]:
        """``{prefix}mAP``, ``{prefix}rank1`` of ``net`` (its train/eval mode is restored)."""
        was_training = net.training
        net.eval()
        d, ev = self.settings.data, self.settings.eval
        data = loader(self.dataset, batch_size=d.test_batch_size, seed=self.seed)
        g, loc, _ = extract_embeddings(net, data, self.device, desc="validation")
        net.train(was_training)
        q, gal = self.is_query, ~self.is_query
        cams = self.dataset.cameras
        blocks = mixed_distance_blocks(
            (g[q], loc[q]),
            (g[gal], loc[gal]),
            cams[q],
            cams[gal],
            lambda_g=ev.lambda_g,
            camera_penalty=ev.camera_penalty,
        )
        return {f"{prefix}{k}": v for k, v in self._rank(blocks).items()}

    def histogram(self) -> dict[str, float]:
        """The colour-histogram baseline on the held-out identities (``val_hist_``)."""
        q, g = self.is_query, ~self.is_query
        cams = self.dataset.cameras
        blocks = histogram_distance_blocks(
            self.histograms[q],
            self.histograms[g],
            cams[q],
            cams[g],
            camera_penalty=self.settings.eval.camera_penalty,
        )
        return {f"val_hist_{k}": v for k, v in self._rank(blocks).items()}
