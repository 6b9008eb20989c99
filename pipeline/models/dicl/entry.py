"""The DICL track's side of the contract in :mod:`pipeline.models.contract`:
``build_model``, ``train_model``, ``evaluate_model``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import torch

from pipeline.checkpoint import load_weights
from pipeline.models.contract import EpochCallback
from pipeline.models.dicl.config import build_cfg
from pipeline.models.dicl.evaluate import evaluate_person_search
from pipeline.models.dicl.model import build_dicl_model
from pipeline.models.dicl.outputs import write_eval_outputs

if TYPE_CHECKING:
    from pipeline.models.dicl.settings import DiclSettings
    from pipeline.runtime import Runtime


def build_model(
    settings: DiclSettings,
    *,
    seed: int,
    num_classes: int = 1,
    pretrained: bool = True,
    device: str | torch.device = "cpu",
) -> torch.nn.Module:
    """The network ``settings`` describe, initialised as training initialises it.

    Args:
        settings: the resolved ``dicl`` section.
        seed: seeds the initialisation (the global RNG state is left as it was).
        num_classes: slots of the identity memory (DICL: one per training box).
        pretrained: load the backbone weights the settings name.
        device: where the model lives.
    """
    device = torch.device(device)
    cfg = build_cfg(settings, iters_per_epoch=1, memory_size=num_classes, device=device.type)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return build_dicl_model(cfg, pretrained=pretrained)


def train_model(
    settings: DiclSettings,
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
    """Train on ``data_dir/train.json``; write ``model_dir`` and ``plots_dir`` (rank 0).

    Args:
        settings, layout: from ``pipeline.models.dicl.settings.load_settings``.
        data_dir: the processed dataset.
        model_dir, plots_dir: the outputs, replaced atomically when training ends.
        runtime: from ``pipeline.runtime.setup``.
        seed: the run's seed.
        root: the folder the dataset's image paths are relative to.
        on_epoch_end: ``(epoch, metrics)`` after each epoch's checkpoint, on rank 0.

    Returns:
        Metrics to log once at the end: none for DICL (its ``val_`` scores are per epoch).
    """
    from pipeline.models.dicl.run import (
        train_from_params,  # training: evaluate_model never needs it
    )

    train_from_params(
        settings,
        layout,
        runtime=runtime,
        seed=seed,
        data_dir=data_dir,
        path_root=root,
        model_dir=model_dir,
        plots_dir=plots_dir,
        on_epoch_end=on_epoch_end if runtime.is_main else None,
    )
    return {}


def evaluate_model(
    settings: DiclSettings,
    *,
    layout: str,
    data_dir: str | Path,
    model_dir: str | Path,
    metrics_path: str | Path,
    plots_dir: str | Path,
    runtime: Runtime,
    root: str | Path = ".",
) -> dict[str, float]:
    """Search with the trained model and the untrained one; write the metrics and plots.

    The untrained model (``init_`` keys) is built as training built it before its first
    step (the training seed from ``model_dir/config.json``), so it is the true starting
    point. The current ``settings`` rebuild the network and set the test options.

    Returns:
        The flat metrics written to ``metrics_path``.
    """
    seed = trained_seed(model_dir)
    cfg = build_cfg(settings, iters_per_epoch=1, memory_size=1, device=runtime.device.type)
    model = build_dicl_model(cfg, pretrained=False)
    model.load_state_dict(load_weights(Path(model_dir) / "model.pt", map_location=runtime.device))

    def search(network: torch.nn.Module):
        return evaluate_person_search(
            network,
            cfg,
            processed_dir=data_dir,
            path_root=root,
            layout=layout,
            gallery_size=settings.test.gallery_size,
        )

    trained = search(model)
    torch.manual_seed(seed)
    init = search(build_dicl_model(cfg))
    return write_eval_outputs(
        trained,
        init,
        metrics_path=metrics_path,
        plots_dir=plots_dir,
        ranked_queries=settings.test.ranked_list_queries,
        seed=seed,
    )


def trained_seed(model_dir: str | Path) -> int:
    """The seed the model in ``model_dir`` was trained with (its ``config.json``)."""
    path = Path(model_dir) / "config.json"
    try:
        return int(json.loads(path.read_text(encoding="utf-8"))["seed"])
    except FileNotFoundError:
        raise FileNotFoundError(f"{path}: not found; run the train_dicl stage first") from None
