"""Validation on identities held out of training (``dclnet.validation``).

Settings are chosen on these scores, never on the test split's. The held-out
identities' infrared images are the queries and their visible images the
gallery; the protocol is the test protocol's headline: SYSU-MM01 all-search
single-shot (seeded gallery trials, ``dclnet.eval.trials``), or RegDB
thermal->visible. Keys: ``val_all_single_mAP`` (``val_t2v_mAP``), ``..._rank1``,
``..._mINP``; the untrained network and the colour histogram are scored once on
the same identities as ``val_init_...`` and ``val_hist_...``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from torch import nn

from pipeline.data.reid_index import IndexRow
from pipeline.evaluation.cross_modality import evaluate_regdb, evaluate_sysu_mm01
from pipeline.models.dclnet.encoders import (
    Encoder,
    cosine_distance,
    histogram_encoder,
    model_encoder,
)
from pipeline.models.dclnet.settings import DclnetSettings

VALIDATION_KEYS = ("mAP", "rank1", "mINP")


class Validator:
    """Scores encoders on the held-out identities' rows.

    Args:
        rows: ``{"query": infrared rows, "gallery": visible rows}``
            (:func:`pipeline.models.dclnet.data.load_validation_rows`).
        settings: the resolved settings (input size, eval batch size and trials).
        layout: ``sysu_mm01`` or ``regdb`` (picks the protocol).
        device: where networks run.
        root: the folder index paths are relative to.
    """

    def __init__(
        self,
        rows: dict[str, list[IndexRow]],
        settings: DclnetSettings,
        layout: str,
        device: torch.device,
        root: Path,
    ) -> None:
        if not rows["query"] or not rows["gallery"]:
            raise ValueError("validation: the held-out identities need infrared and visible rows")
        self.query, self.gallery = rows["query"], rows["gallery"]
        self.settings = settings
        self.layout = layout
        self.device = device
        self.root = root
        self.protocol = "t2v" if layout == "regdb" else "all_single"

    def score(self, encode: Encoder, prefix: str = "val_") -> dict[str, float]:
        """``{prefix}{protocol}_{mAP,rank1,mINP}`` of one encoder."""
        dist = cosine_distance(encode(self.query), encode(self.gallery))
        q_pids = np.array([r.pid for r in self.query], dtype=np.int64)
        g_pids = np.array([r.pid for r in self.gallery], dtype=np.int64)
        if self.layout == "regdb":
            # evaluate_regdb takes visible-query distances; t2v is their transpose.
            summary = evaluate_regdb([dist.T], [g_pids], [q_pids])["t2v"]
        else:
            summary = evaluate_sysu_mm01(
                dist,
                q_pids,
                np.array([r.camera for r in self.query], dtype=np.int64),
                g_pids,
                np.array([r.camera for r in self.gallery], dtype=np.int64),
                [r.path for r in self.gallery],
                mode="all",
                num_shots=1,
                num_trials=self.settings.eval.trials,
                seed=self.settings.eval.trial_seed,
            )
        return {f"{prefix}{self.protocol}_{k}": float(summary[k]) for k in VALIDATION_KEYS}

    def score_model(self, model: nn.Module, prefix: str = "val_") -> dict[str, float]:
        """Score a network; the global RNG is left as it was, so training is unaffected.

        The network is left in eval mode (the trainer switches it back each epoch).
        """
        with torch.random.fork_rng(devices=[]):
            return self.score(model_encoder(model, self.settings, self.device, self.root), prefix)

    def score_baselines(self, init_model: nn.Module) -> dict[str, float]:
        """``val_init_...`` (the untrained network) and ``val_hist_...`` (colour histogram)."""
        out = self.score_model(init_model, "val_init_")
        out.update(self.score(histogram_encoder(self.root), "val_hist_"))
        return out
