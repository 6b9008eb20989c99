"""DICL training from resolved settings: data in, ``model_dir`` and ``plots_dir`` out.

``train_from_params`` holds everything ``pipeline.models.dicl.train`` (the track's
contract, ``entry.py``) does, so tests can run it directly (or in a subprocess, to
kill and resume one). It expects ``runtime.setup`` to have run (seeds, determinism,
threads, process group). The evaluation side is ``entry.evaluate``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import torch
from detectron2.config import CfgNode
from detectron2.utils import comm

from pipeline.checkpoint import clear_resume, resume_dir, run_fingerprint
from pipeline.data.detectron2 import load_person_search_dicts
from pipeline.models.dicl.config import apply_runtime, build_cfg
from pipeline.models.dicl.data import (
    ValidationSplit,
    iters_per_epoch,
    split_validation,
    training_set_from_records,
)
from pipeline.models.dicl.evaluate import evaluate_validation
from pipeline.models.dicl.outputs import write_training_outputs
from pipeline.models.dicl.settings import DiclSettings
from pipeline.models.dicl.trainer import train_dicl
from pipeline.params import ParamsError
from pipeline.runtime import Runtime


def check_memory_size(settings: DiclSettings, records: list[dict], train_json: Path) -> None:
    """``train.memory_size`` (when set) against the boxes of the whole ``train.json``.

    The whole file, before any validation cut: the count names the dataset (the paper's
    55,272 CUHK-SYSU / 18,048 PRW boxes), whatever identities a seed holds out.
    """
    expected = settings.train.memory_size
    found = sum(len(r["annotations"]) for r in records)
    if expected is not None and expected != found:
        raise ParamsError(
            f"dicl.train.memory_size: {expected} expected, but {train_json} holds {found} boxes"
        )


def run_config(
    settings: DiclSettings,
    layout: str,
    iters: int,
    slots: int,
    seed: int,
    split: ValidationSplit | None = None,
) -> dict:
    """What ``config.json`` records: the resolved settings and what the data fixed."""
    config = {
        # The section's name before it was renamed `dicl`: kept, so models/dicl/config.json
        # stays byte-identical (nothing reads the key back).
        "person_search": settings.model_dump(mode="json"),
        "layout": layout,
        "iters_per_epoch": iters,
        "memory_size": slots,
        "seed": seed,
    }
    if split is not None:
        config["validation"] = {
            "ids": split.ids.tolist(),
            "image_ids": [r["image_id"] for r in split.validation],
            "train_images": len(split.train),
        }
    return config


def training_cfg(
    settings: DiclSettings, runtime: Runtime, num_images: int, memory_size: int
) -> CfgNode:
    """This process's training config: ``build_cfg`` under the runtime's rules (images per
    process and step, lr and warm-up from ``runtime.batch_rule`` / ``lr_scaling``; AMP)."""
    plan = runtime.batch_plan(settings.train.ims_per_batch, "dicl.train.ims_per_batch")
    cfg = build_cfg(
        settings,
        iters_per_epoch=iters_per_epoch(num_images, plan.per_process, runtime.world_size),
        memory_size=memory_size,
        device=runtime.device.type,
    )
    return apply_runtime(cfg, plan, runtime.precision)


def train_from_params(
    settings: DiclSettings,
    layout: str,
    *,
    runtime: Runtime,
    seed: int,
    data_dir: str | Path,
    path_root: str | Path,
    model_dir: str | Path,
    plots_dir: str | Path,
    on_epoch_end: Callable[[int, dict], None] | None = None,
) -> list[dict[str, float]]:
    """Train DICL on ``data_dir/train.json``; write ``model_dir`` and ``plots_dir``.

    With ``validation.ids`` > 0, the scenes of that many drawn identities are held
    out of training and scored after every ``validation.every_epochs``-th and the
    last epoch (``val_`` keys in the history); ``config.json`` records the split.
    Resumes from ``resume_dir(model_dir)`` when a checkpoint is there; removes it
    once the outputs are written. Returns the per-epoch history.
    """
    train_json = Path(data_dir) / "train.json"
    records = load_person_search_dicts(train_json, path_root)
    check_memory_size(settings, records, train_json)
    split = split_validation(records, settings.validation.ids, seed)
    training_set = training_set_from_records(split.train, train_json)
    cfg = training_cfg(settings, runtime, len(training_set.dicts), training_set.num_slots)
    iters = cfg.SOLVER.ITERS_PER_EPOCH
    validate = None
    if split.validation:

        def validate(model: torch.nn.Module) -> dict[str, float]:
            return evaluate_validation(model, cfg, split.validation, split.ids)

    model, history = train_dicl(
        cfg,
        training_set,
        resume_dir=resume_dir(model_dir),
        seed=seed,
        on_epoch_end=on_epoch_end,
        validate=validate,
        validate_every=settings.validation.every_epochs,
        fingerprint=run_fingerprint(
            settings.model_dump(mode="json"),
            seed,
            runtime.world_size,
            *runtime.resume_key(),
            hashlib.sha256(train_json.read_bytes()).hexdigest(),
        ),
    )
    if runtime.is_main:
        write_training_outputs(
            model,
            run_config(
                settings,
                layout,
                iters,
                training_set.num_slots,
                seed,
                split if split.validation else None,
            ),
            history,
            model_dir=model_dir,
            plots_dir=plots_dir,
        )
        clear_resume(model_dir)
    comm.synchronize()
    return history
