"""Train the SCL track end to end: data, model, epochs with resume, outputs.

The library entry point of ``stages/train_scl.py``. Outputs, each written
atomically once training has finished (docs/design.md, "Reproducibility"):

- ``<model_dir>/model.pt``: the final weights (a state dict), ``config.json``:
  the resolved settings and the training-set size, ``pseudo_labels/round_XX.csv``:
  each round's label per training image (``path,camera,label``; -1 = outlier);
- ``<plots_dir>/history.csv`` + ``history.png``: one row per epoch;
  ``pseudo_labels.csv`` + ``pseudo_labels.png``: clusters, outlier share, NMI, ARI
  per round (against the true ids, for the report only); with
  ``scl.validation.pids`` the held-out identities' ``val_*`` figures per scored epoch
  (and in ``config.json``, beside the untrained and colour-histogram baselines).

Resume state lives in ``checkpoint.resume_dir(model_dir)`` and is removed on success.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import torch.distributed as dist

from pipeline.checkpoint import clear_resume, resume_dir, run_fingerprint, write_state_dict
from pipeline.engine.epoch_loop import EpochLoop
from pipeline.engine.history import write_history
from pipeline.io import atomic_dir, dumps_json, write_csv
from pipeline.models.scl.data import test_dataset, train_dataset
from pipeline.models.scl.network import DEFAULT_PRETRAINED_CACHE, build_net_for, pretrained_path
from pipeline.models.scl.settings import SCLSettings
from pipeline.models.scl.trainer import SCLTrainer
from pipeline.models.scl.validation import Validator
from pipeline.runtime import Runtime


def train_scl(
    settings: SCLSettings,
    *,
    index_csv: str | Path,
    root: str | Path,
    model_dir: str | Path,
    plots_dir: str | Path,
    runtime: Runtime,
    seed: int,
    pretrained_cache: str | Path = DEFAULT_PRETRAINED_CACHE,
    on_epoch_end: Callable[[int, dict[str, float]], None] | None = None,
) -> list[dict[str, float]]:
    """Train and write the outputs; return the per-epoch history.

    Args:
        settings: resolved ``scl`` settings.
        index_csv: ``data/processed/<dataset>/index.csv``.
        root: the folder index paths are relative to (the repository root).
        model_dir, plots_dir: output folders (replaced atomically at the end).
        runtime: from ``pipeline.runtime.setup``.
        seed: the run's seed (model init, batch order, random negatives).
        pretrained_cache: where downloaded ImageNet weights are kept.
        on_epoch_end: called with ``(epoch, row)`` after each epoch's checkpoint.
    """
    model_dir, plots_dir = Path(model_dir), Path(plots_dir)
    d = settings.data
    held_out = settings.validation.pids
    train_set = train_dataset(
        index_csv,
        root,
        height=d.height,
        width=d.width,
        flip=d.flip,
        pad=d.pad,
        erasing=d.erasing,
        held_out=held_out,
    )
    if len(train_set) < 2:
        raise ValueError(f"{index_csv}: the train split has {len(train_set)} images; need >= 2")
    extract_set = test_dataset(
        index_csv, root, "train", height=d.height, width=d.width, held_out=held_out
    )
    net = build_net_for(settings, pretrained_path(settings, runtime, pretrained_cache), seed)
    validator, baselines = None, {}
    if held_out and runtime.is_main:
        validator = Validator(settings, index_csv, root, runtime.device, seed)
        baselines = {
            **validator(net.to(runtime.device), prefix="val_init_"),
            **validator.histogram(),
        }
    trainer = SCLTrainer(
        net=net,
        settings=settings,
        train_set=train_set,
        extract_set=extract_set,
        runtime=runtime,
        seed=seed,
        report_ids=train_set.pids,
        validate=validator,
    )
    loop = EpochLoop(
        trainer,
        epochs=settings.train.epochs,
        resume_dir=resume_dir(model_dir),
        on_epoch_end=on_epoch_end if runtime.is_main else None,
        save_checkpoints=runtime.is_main,
        # A checkpoint left by a killed run with other settings or data is not resumed.
        fingerprint=run_fingerprint(
            settings.model_dump(mode="json"),
            seed,
            runtime.world_size,
            *runtime.resume_key(),
            hashlib.sha256(Path(index_csv).read_bytes()).hexdigest(),
        ),
    )
    history = loop.run()
    if runtime.is_main:
        _write_model_dir(model_dir, trainer, settings, train_set, seed, baselines, history)
        _write_plots(plots_dir, history, trainer.round_rows)
        clear_resume(model_dir)
    if runtime.distributed:
        dist.barrier()
    return history


def _write_model_dir(
    model_dir: Path, trainer: SCLTrainer, settings, train_set, seed: int, baselines, history
) -> None:
    config = {
        "settings": settings.model_dump(mode="json"),
        "seed": seed,
        "num_train_images": len(train_set),
        "num_rounds": len(trainer.rounds),
    }
    if settings.validation.pids:
        last = {k: v for k, v in history[-1].items() if k.startswith("val_")} if history else {}
        config["validation"] = {**baselines, **last}
    with atomic_dir(model_dir) as tmp:
        write_state_dict(tmp / "model.pt", trainer.net.state_dict())
        (tmp / "config.json").write_text(dumps_json(config), encoding="utf-8")
        rounds_dir = tmp / "pseudo_labels"
        rounds_dir.mkdir()
        for number, labels in enumerate(trainer.rounds):
            write_csv(
                rounds_dir / f"round_{number:02d}.csv",
                ("path", "camera", "label"),
                zip(train_set.paths, train_set.cameras.tolist(), labels.tolist(), strict=True),
            )


def _write_plots(plots_dir: Path, history: list[dict], round_rows: list[dict]) -> None:
    with atomic_dir(plots_dir) as tmp:
        write_history(history, tmp / "history.csv", tmp / "history.png", title="SCL training")
        rows = [{**row, "epoch": int(row["epoch"])} for row in round_rows]
        write_history(
            rows,
            tmp / "pseudo_labels.csv",
            tmp / "pseudo_labels.png" if rows else None,
            title="SCL pseudo labels per round (quality vs true ids: report only)",
        )
