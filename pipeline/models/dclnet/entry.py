"""The DCLNet track's side of the contract in :mod:`pipeline.models.contract`:
``build_model``, ``train_model``, ``evaluate_model``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from pipeline.io import write_json
from pipeline.models.contract import EpochCallback
from pipeline.models.dclnet.evaluation import evaluate_dclnet
from pipeline.models.dclnet.network import build_dclnet
from pipeline.models.dclnet.settings import DclnetSettings, model_kwargs
from pipeline.params import validate

if TYPE_CHECKING:
    import torch

    from pipeline.runtime import Runtime


def build_model(
    settings: DclnetSettings,
    *,
    seed: int,
    num_classes: int = 1,
    pretrained: bool = True,
    device: str | torch.device = "cpu",
) -> torch.nn.Module:
    """The network ``settings`` describe, initialised as training initialises it.

    Args:
        settings: the resolved ``dclnet`` section.
        seed: seeds the initialisation (the global RNG state is left as it was).
        num_classes: identities of the classifier (the training identities).
        pretrained: load the ImageNet weights the settings name.
        device: where the model lives.
    """
    model = build_dclnet(
        num_classes=num_classes,
        seed=seed,
        pretrained=settings.model.pretrained if pretrained else None,
        **model_kwargs(settings),
    )
    return model.to(device)


def train_model(
    settings: DclnetSettings,
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
    """Train every unit (SYSU-MM01: one model; RegDB: one per split); write ``model_dir``
    and ``plots_dir`` (rank 0). A killed run restarts inside its unfinished unit.

    Args:
        settings, layout: from ``pipeline.models.dclnet.settings.load_settings``.
        data_dir: the processed dataset.
        model_dir, plots_dir: the outputs, replaced atomically when training ends.
        runtime: from ``pipeline.runtime.setup``.
        seed: the run's seed.
        root: the folder the index's image paths are relative to.
        on_epoch_end: ``(epoch, metrics)`` after each epoch's checkpoint, on rank 0; a
            unit other than the main one prefixes its keys with ``<unit>/``.

    Returns:
        Metrics to log once at the end: with ``dclnet.validation.ids``, the held-out
        identities' last ``val_`` scores and their ``val_init_`` / ``val_hist_``
        baselines, per unit as above (rank 0; empty otherwise).
    """
    # Training only: evaluate_model never needs it.
    from pipeline.models.dclnet.training import history_metrics, train_dclnet

    def per_unit(unit: str, values: dict[str, float]) -> dict[str, float]:
        prefix = "" if unit == "main" else f"{unit}/"
        return {prefix + k: v for k, v in values.items()}

    callback = None
    if on_epoch_end is not None:

        def callback(unit: str, epoch: int, row: dict[str, float]) -> None:
            on_epoch_end(epoch, per_unit(unit, history_metrics(row)))

    finals = train_dclnet(
        settings,
        layout,
        data_dir=data_dir,
        model_dir=model_dir,
        plots_dir=plots_dir,
        runtime=runtime,
        seed=seed,
        root=root,
        on_epoch_end=callback if runtime.is_main else None,
    )
    if not runtime.is_main:
        return {}
    final: dict[str, float] = {}
    for unit, state in finals.items():
        final.update(per_unit(unit, state["validation"]))
    return final


def evaluate_model(
    settings: DclnetSettings,
    *,
    layout: str,
    data_dir: str | Path,
    model_dir: str | Path,
    metrics_path: str | Path,
    plots_dir: str | Path,
    runtime: Runtime,
    root: str | Path = ".",
) -> dict[str, float]:
    """Score the trained models, the untrained ones (``init_``) and the colour histogram
    (``hist_``) with the dataset's protocol; write the metrics and plots.

    The models are rebuilt from ``model_dir/config.json`` (the settings, layout and seed
    they were trained with); the current ``settings`` give the evaluation options.

    Returns:
        The flat metrics written to ``metrics_path``.
    """
    config_path = Path(model_dir) / "config.json"
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise FileNotFoundError(
            f"{config_path}: not found; run the train_dclnet stage first"
        ) from None
    trained = validate(DclnetSettings, config["settings"], prefix=f"{config_path}: settings")
    trained = trained.model_copy(update={"eval": settings.eval})
    metrics = evaluate_dclnet(
        trained,
        config.get("layout", layout),
        config,
        data_dir=data_dir,
        model_dir=model_dir,
        plots_dir=plots_dir,
        device=runtime.device,
        root=root,
    )
    write_json(metrics_path, metrics)
    return metrics
