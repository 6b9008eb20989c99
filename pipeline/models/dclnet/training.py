"""Train DCLNet on a processed visible-infrared dataset: the library side of ``train_dclnet``.

Work is cut into units: SYSU-MM01 trains one model; RegDB trains one per
split (``dclnet.splits``), as its protocol demands. Each unit keeps its epoch
checkpoints and, once finished, its final state under
``<resume_dir(model_dir)>/<unit>/``, so a killed run restarts inside the
unfinished unit and never redoes a finished one. When every unit is done the
outputs are written atomically and the resume state is cleared:

* ``model_dir/model.pt`` (SYSU-MM01) or ``model_dir/splits/<k>/model.pt`` (RegDB):
  state dicts; ``model_dir/config.json``: resolved settings, seed, units;
* ``plots_dir/history.csv|png`` (per unit folder ``split_<k>/`` for RegDB) and
  ``part_masks.png``: the class-activation and parsed part masks of a few
  training images under the final model; ``validation.json`` (per unit folder):
  the last ``val_`` scores of the held-out identities with the ``val_init_`` and
  ``val_hist_`` baselines, when ``dclnet.validation.ids`` > 0.

With ``dclnet.validation.ids`` > 0 those train identities never reach training:
they are scored (``val_`` keys in the history and MLflow) as the test set would
be, so settings can be chosen without looking at test scores.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from pipeline.checkpoint import (
    CHECKPOINT_NAME,
    clear_resume,
    cpu_state_dict,
    load_checkpoint,
    resume_dir,
    run_fingerprint,
    save_checkpoint,
    write_state_dict,
)
from pipeline.data.reid_index import read_index
from pipeline.engine.epoch_loop import EpochLoop
from pipeline.engine.history import write_history
from pipeline.io import atomic_dir, write_json
from pipeline.models.dclnet.data import (
    TrainSet,
    TrainUnit,
    eval_dataset,
    load_train_set,
    load_validation_rows,
    split_validation_ids,
    training_units,
)
from pipeline.models.dclnet.mask_figure import write_part_masks
from pipeline.models.dclnet.network import DCLNet, build_dclnet
from pipeline.models.dclnet.objective import DclnetObjective
from pipeline.models.dclnet.settings import DclnetSettings, model_kwargs
from pipeline.models.dclnet.trainer import DclnetTrainer
from pipeline.models.dclnet.validation import Validator
from pipeline.runtime import Runtime

FINAL_STATE = "final.pt"
MASK_FIGURE_IDS = 4
EpochCallback = Callable[[str, int, dict[str, float]], None]


def _barrier(runtime: Runtime) -> None:
    if runtime.distributed:
        dist.barrier()


def _train_unit(
    unit: TrainUnit,
    settings: DclnetSettings,
    layout: str,
    runtime: Runtime,
    seed: int,
    state_dir: Path,
    root: Path,
    on_epoch_end: EpochCallback | None,
) -> dict[str, Any]:
    """Train one unit (or load its finished state); returns its final state."""
    final_path = state_dir / FINAL_STATE
    # Finished units and epoch checkpoints count only for the same settings, seed and data:
    # a run killed before its params changed must not lend its state to the new run.
    fingerprint = run_fingerprint(
        settings.model_dump(mode="json"),
        seed,
        unit.name,
        runtime.world_size,
        *runtime.resume_key(),
        hashlib.sha256(unit.index_csv.read_bytes()).hexdigest(),
    )
    final = load_checkpoint(final_path, fingerprint=fingerprint)
    if final is not None:
        return final
    held_out = validation_ids(unit, settings)
    train_set = load_train_set(unit.index_csv, settings.input, root, exclude=held_out)
    model = build_dclnet(
        num_classes=train_set.num_classes,
        seed=seed,
        pretrained=settings.model.pretrained,
        **model_kwargs(settings),
    )
    validator, baselines = None, {}
    if held_out and runtime.is_main:
        validator = Validator(
            load_validation_rows(unit.index_csv, held_out), settings, layout, runtime.device, root
        )
        baselines = validator.score_baselines(model)  # the untrained weights, before any step
    trainer = DclnetTrainer(
        model,
        train_set.dataset,
        train_set.labels,
        train_set.modalities,
        settings,
        runtime,
        seed,
        desc=f"dclnet {unit.name}",
        validate=None if validator is None else validator.score_model,
    )
    callback = None
    if on_epoch_end is not None and runtime.is_main:

        def callback(epoch: int, row: dict[str, float]) -> None:
            on_epoch_end(unit.name, epoch, row)

    loop = EpochLoop(
        trainer,
        epochs=settings.train.epochs,
        resume_dir=state_dir,
        on_epoch_end=callback,
        save_checkpoints=runtime.is_main,
        fingerprint=fingerprint,
    )
    history = loop.run()
    final = {
        "fingerprint": fingerprint,
        "model": cpu_state_dict(model),
        "history": history,
        "pids": list(train_set.pids),
        "validation_ids": list(held_out),
        "validation": {**baselines, **_last_validation(history)},
    }
    if runtime.is_main:
        save_checkpoint(final_path, final)
        # The epoch checkpoint (weights + Adam state) is no longer needed: free the disk.
        (state_dir / CHECKPOINT_NAME).unlink(missing_ok=True)
    return final


def validation_ids(unit: TrainUnit, settings: DclnetSettings) -> tuple[int, ...]:
    """The train identities ``dclnet.validation`` holds out of this unit (empty when off)."""
    v = settings.validation
    if v.ids == 0:
        return ()
    rows = read_index(unit.index_csv)
    return split_validation_ids(rows, v.ids, v.seed, str(unit.index_csv), named=v.pids)


def _last_validation(history: list[dict[str, float]]) -> dict[str, float]:
    """The ``val_`` values of the last epoch that has them."""
    for row in reversed(history):
        values = {k: v for k, v in row.items() if k.startswith("val_")}
        if values:
            return values
    return {}


def _mask_sample(train_set: TrainSet, settings: DclnetSettings, root: Path):
    """First image of each modality for the first few identities, test-transformed."""
    rows = train_set.dataset.rows
    picked_v, picked_r, labels = [], [], []
    for label in range(train_set.num_classes):
        vis = next((r for r in rows if r.pid == label and r.modality == "visible"), None)
        ir = next((r for r in rows if r.pid == label and r.modality == "infrared"), None)
        if vis is not None and ir is not None:
            picked_v.append(vis)
            picked_r.append(ir)
            labels.append(label)
        if len(labels) == MASK_FIGURE_IDS:
            break
    to_tensor = eval_dataset(picked_v + picked_r, settings.input, root)
    images = torch.stack([to_tensor[i].image for i in range(len(to_tensor))])
    n = len(labels)
    return images[:n], images[n:], torch.tensor(labels, dtype=torch.long)


def _write_outputs(
    units: list[TrainUnit],
    finals: dict[str, dict[str, Any]],
    settings: DclnetSettings,
    layout: str,
    seed: int,
    model_dir: Path,
    plots_dir: Path,
    root: Path,
) -> None:
    config = {
        "dataset": settings.dataset,
        "layout": layout,
        "seed": seed,
        "settings": settings.model_dump(mode="json"),
        "units": {
            u.name: {
                "model": u.model_path,
                "num_classes": len(finals[u.name]["pids"]),
                "validation_ids": finals[u.name].get("validation_ids", []),
            }
            for u in units
        },
    }
    with atomic_dir(model_dir) as tmp:
        for unit in units:
            # The zip inside is named after the file (as torch.save to the file named it).
            path = tmp / unit.model_path
            write_state_dict(path, finals[unit.name]["model"], archive=path.stem)
        write_json(tmp / "config.json", config)
    with atomic_dir(plots_dir) as tmp:
        for unit in units:
            folder = tmp / unit.plots_subdir
            title = f"DCLNet on {settings.dataset}" + (
                f" ({unit.name})" if unit.plots_subdir else ""
            )
            write_history(
                finals[unit.name]["history"], folder / "history.csv", folder / "history.png", title
            )
            if finals[unit.name].get("validation"):
                write_json(folder / "validation.json", finals[unit.name]["validation"])
        first = units[0]
        train_set = load_train_set(
            first.index_csv,
            settings.input,
            root,
            exclude=finals[first.name].get("validation_ids", ()),
        )
        model = DCLNet(num_classes=train_set.num_classes, **model_kwargs(settings))
        model.load_state_dict(finals[first.name]["model"])
        objective = DclnetObjective.from_settings(settings)
        visible, infrared, labels = _mask_sample(train_set, settings, root)
        write_part_masks(tmp / "part_masks.png", model, objective, visible, infrared, labels)


def train_dclnet(
    settings: DclnetSettings,
    layout: str,
    *,
    data_dir: str | Path,
    model_dir: str | Path,
    plots_dir: str | Path,
    runtime: Runtime,
    seed: int,
    root: str | Path = ".",
    on_epoch_end: EpochCallback | None = None,
) -> dict[str, dict[str, Any]]:
    """Train every unit, then write the model and plot directories.

    Args:
        settings: resolved ``dclnet`` settings.
        layout: ``sysu_mm01`` or ``regdb`` (the dataset's layout).
        data_dir: ``data/processed/<dataset>``.
        model_dir: output ``models/dclnet``.
        plots_dir: output ``plots/dclnet/train``.
        runtime: from ``pipeline.runtime.setup``; only rank 0 writes.
        seed: initialises the model and the batch order.
        root: the folder index paths are relative to (the repository root).
        on_epoch_end: called on rank 0 with ``(unit, epoch, row)`` after each epoch.

    Returns:
        Per unit its final state: ``model`` (this rank's weights, on CPU),
        ``history`` (one row per epoch), ``pids`` (original pid of each class),
        ``validation_ids`` (held-out pids) and ``validation`` (last ``val_`` scores
        and the ``val_init_``/``val_hist_`` baselines; empty when off or not rank 0).
    """
    data_dir, model_dir, plots_dir, root = (
        Path(data_dir),
        Path(model_dir),
        Path(plots_dir),
        Path(root),
    )
    units = training_units(settings, layout, data_dir)
    for unit in units:
        if not unit.index_csv.is_file():
            raise FileNotFoundError(f"{unit.index_csv}: index file not found (run convert first)")
    state_root = resume_dir(model_dir)
    finals = {}
    for unit in units:
        finals[unit.name] = _train_unit(
            unit, settings, layout, runtime, seed, state_root / unit.name, root, on_epoch_end
        )
        _barrier(runtime)
    if runtime.is_main:
        _write_outputs(units, finals, settings, layout, seed, model_dir, plots_dir, root)
        clear_resume(model_dir)
    _barrier(runtime)
    return finals


def history_metrics(row: dict[str, float]) -> dict[str, float]:
    """The numeric values of a history row, without the epoch (for MLflow)."""
    return {k: float(v) for k, v in row.items() if k != "epoch" and np.isscalar(v)}
