"""The SCL track's side of the contract in :mod:`pipeline.models.contract`:
``build_model``, ``train_model``, ``evaluate_model``.

ImageNet weights named by ``scl.model.pretrained`` are cached in ``data/pretrained``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from pipeline.models.contract import EpochCallback
from pipeline.models.scl.evaluate import evaluate_scl
from pipeline.models.scl.network import DEFAULT_PRETRAINED_CACHE, build_net_for, pretrained_path
from pipeline.runtime import Runtime

if TYPE_CHECKING:
    from pipeline.models.scl.settings import SCLSettings


def build_model(
    settings: SCLSettings,
    *,
    seed: int,
    num_classes: int = 1,
    pretrained: bool = True,
    device: str | torch.device = "cpu",
) -> torch.nn.Module:
    """The network ``settings`` describe, initialised as training initialises it.

    Args:
        settings: the resolved ``scl`` section.
        seed: seeds the initialisation (the global RNG state is left as it was).
        num_classes: unused: SCL's network has no classifier (its memories live outside).
        pretrained: load the ImageNet weights the settings name (downloaded once).
        device: where the model lives.
    """
    device = torch.device(device)
    weights = None
    if pretrained:
        weights = pretrained_path(settings, Runtime(device=device), DEFAULT_PRETRAINED_CACHE)
    return build_net_for(settings, weights, seed).to(device)


def train_model(
    settings: SCLSettings,
    *,
    layout: str,
    data_dir: str | Path,
    model_dir: str | Path,
    plots_dir: str | Path,
    runtime: Runtime,
    seed: int,
    root: str | Path = ".",
    on_epoch_end: EpochCallback | None = None,
) -> dict[str, float]:
    """Train on ``data_dir/index.csv`` (train split); write ``model_dir`` and ``plots_dir``.

    Args:
        settings, layout: from ``pipeline.models.scl.settings.load_settings`` (every
            layout SCL supports is read the same way).
        data_dir: the processed dataset.
        model_dir, plots_dir: the outputs, replaced atomically when training ends.
        runtime: from ``pipeline.runtime.setup``.
        seed: the run's seed.
        root: the folder the index's image paths are relative to.
        on_epoch_end: ``(epoch, metrics)`` after each epoch's checkpoint, on rank 0.

    Returns:
        Metrics to log once at the end: with ``scl.validation.pids``, the held-out
        identities' last ``val_`` scores and their ``val_init_`` / ``val_hist_``
        baselines (rank 0; empty otherwise).
    """
    from pipeline.models.scl.train import train_scl  # training: evaluate_model never needs it

    train_scl(
        settings,
        index_csv=Path(data_dir) / "index.csv",
        root=root,
        model_dir=model_dir,
        plots_dir=plots_dir,
        runtime=runtime,
        seed=seed,
        pretrained_cache=DEFAULT_PRETRAINED_CACHE,
        on_epoch_end=on_epoch_end,
    )
    if not runtime.is_main:
        return {}
    config = json.loads((Path(model_dir) / "config.json").read_text(encoding="utf-8"))
    return dict(config.get("validation", {}))


def evaluate_model(
    settings: SCLSettings,
    *,
    layout: str,
    data_dir: str | Path,
    model_dir: str | Path,
    metrics_path: str | Path,
    plots_dir: str | Path,
    runtime: Runtime,
    root: str | Path = ".",
) -> dict[str, float]:
    """Score the trained model, the untrained one (``init_``) and the colour histogram
    (``hist_``) on query/gallery; write the metrics and plots.

    The network is rebuilt from ``model_dir/config.json`` (the settings and seed it was
    trained with); the current ``settings`` give the evaluation options.

    Returns:
        The flat metrics written to ``metrics_path``.
    """
    return evaluate_scl(
        settings,
        model_dir=model_dir,
        index_csv=Path(data_dir) / "index.csv",
        root=root,
        metrics_path=metrics_path,
        plots_dir=plots_dir,
        runtime=runtime,
        pretrained_cache=DEFAULT_PRETRAINED_CACHE,
    )
