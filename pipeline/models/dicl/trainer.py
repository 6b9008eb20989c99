"""DICL training on detectron2's ``SimpleTrainer``, epoch-structured and resumable.

``SimpleTrainer.run_step`` is used unchanged; this subclass only adds what the
method needs around it: the epoch arithmetic (pseudo labels and checkpoints are
per epoch), the resumable state (model, hybrid memory, optimizer, scheduler,
every process's RNG states, history, the reliability threshold) and access to
the bare model under DistributedDataParallel. ``train_dicl`` builds the model,
optimizer (SGD), scheduler (linear warm-up, steps) and hooks from the config and
runs the remaining iterations; a killed run started again resumes from its last
epoch checkpoint and ends with the same bytes as an uninterrupted one.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from detectron2.config import CfgNode
from detectron2.engine import SimpleTrainer, hooks
from detectron2.solver import build_lr_scheduler
from detectron2.solver.build import get_default_optimizer_params
from detectron2.utils import comm
from torch.nn.parallel import DistributedDataParallel

from pipeline.checkpoint import (
    CHECKPOINT_NAME,
    arm_kill_trigger,
    load_checkpoint,
    save_checkpoint,
)
from pipeline.models.dicl.data import PersonSearchMapper, TrainingSet, build_test_mapper
from pipeline.models.dicl.hooks import (
    EpochDataHook,
    EpochEndHook,
    GlobalGradClipHook,
    MemoryInitHook,
    ProgressHook,
    PseudoLabelHook,
    ValidationHook,
)
from pipeline.models.dicl.model import build_dicl_model
from pipeline.models.dicl.pseudo_labels import PseudoLabelConfig
from pipeline.runtime import rng_state, set_rng_state

log = logging.getLogger(__name__)


class DICLTrainer(SimpleTrainer):
    """``SimpleTrainer`` plus epochs and resumable state.

    Args:
        model: the (possibly DDP-wrapped) DICL model.
        optimizer, scheduler: as built from the config.
        iters_per_epoch: iterations in one epoch.
    """

    def __init__(self, model, optimizer, scheduler, *, iters_per_epoch: int) -> None:
        super().__init__(model, data_loader=None, optimizer=optimizer)
        self.scheduler = scheduler
        self.iters_per_epoch = iters_per_epoch
        self.history: list[dict[str, float]] = []
        self.pseudo_state: dict[str, Any] = {}
        self.epoch_metrics: dict[str, float] = {}  # this epoch's validation metrics
        self.resumed = False

    @property
    def bare_model(self) -> torch.nn.Module:
        return self.model.module if isinstance(self.model, DistributedDataParallel) else self.model

    @property
    def epoch(self) -> int:
        return self.iter // self.iters_per_epoch

    def checkpoint_state(self) -> dict:
        """Everything a resumed run needs, after the current (epoch-final) step.

        Collective in distributed runs: every process's RNG state is gathered.
        """
        rng = [rng_state()]
        if comm.get_world_size() > 1:
            rng = comm.all_gather(rng[0])
        memory = self.bare_model.memory
        return {
            "iteration": self.iter + 1,
            "model": self.bare_model.state_dict(),
            "memory_features": memory.features.cpu(),
            "memory_labels": memory.labels.cpu(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "rng": rng,
            "history": self.history,
            "indep_threshold": self.pseudo_state.get("indep_threshold"),
        }

    def load_checkpoint_state(self, state: dict) -> int:
        """Restore a checkpoint; returns the iteration to start from."""
        model = self.bare_model
        model.load_state_dict(state["model"])
        device = model.memory.features.device
        model.memory.features.copy_(state["memory_features"].to(device))
        model.memory.labels.copy_(state["memory_labels"].to(device))
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        set_rng_state(state["rng"][comm.get_rank()])
        self.history = list(state["history"])
        self.pseudo_state["indep_threshold"] = state["indep_threshold"]
        self.resumed = True
        return int(state["iteration"])


def wrap_distributed(model: torch.nn.Module, device: torch.device) -> torch.nn.Module:
    """DistributedDataParallel when several processes train, else the model itself.

    Buffers are not broadcast: the memory is kept identical by gathered updates.
    """
    if comm.get_world_size() == 1:
        return model
    device_ids = [device.index] if device.type == "cuda" else None
    return DistributedDataParallel(model, device_ids=device_ids, broadcast_buffers=False)


def _is_offset_branch(name: str) -> bool:
    """Deformable convolutions' ``conv_offset`` and deformable RoI pooling's ``offset_fc``."""
    return ".conv_offset." in name or ".offset_fc." in name


def build_sgd(cfg: CfgNode, model: torch.nn.Module) -> torch.optim.Optimizer:
    """SGD over the trainable parameters (detectron2's grouping: norm weight decay,
    bias factor), the deformable offset branches at their own learning-rate factor."""
    factor = cfg.SOLVER.DICL_DEFORM_OFFSET_LR_FACTOR
    params = get_default_optimizer_params(
        model,
        base_lr=cfg.SOLVER.BASE_LR,
        weight_decay=cfg.SOLVER.WEIGHT_DECAY,
        weight_decay_norm=cfg.SOLVER.WEIGHT_DECAY_NORM,
        bias_lr_factor=cfg.SOLVER.BIAS_LR_FACTOR,
        weight_decay_bias=cfg.SOLVER.WEIGHT_DECAY_BIAS,
        lr_factor_func=lambda name: factor if _is_offset_branch(name) else 1.0,
    )
    return torch.optim.SGD(
        params,
        lr=cfg.SOLVER.BASE_LR,
        momentum=cfg.SOLVER.MOMENTUM,
        nesterov=cfg.SOLVER.NESTEROV,
        weight_decay=cfg.SOLVER.WEIGHT_DECAY,
        foreach=True,
    )


def train_dicl(
    cfg: CfgNode,
    training_set: TrainingSet,
    *,
    resume_dir: str | Path,
    seed: int,
    on_epoch_end: Callable[[int, dict], None] | None = None,
    validate: Callable[[torch.nn.Module], dict] | None = None,
    validate_every: int = 1,
    fingerprint: str | None = None,
) -> tuple[torch.nn.Module, list[dict[str, float]]]:
    """Train (or resume) DICL for ``cfg.SOLVER.MAX_ITER`` iterations.

    Args:
        cfg: from :func:`pipeline.models.dicl.config.build_cfg`.
        training_set: training boxes (memory slots) and images.
        resume_dir: where the epoch checkpoint lives (outside DVC outputs).
        seed: seeds the epoch data order.
        on_epoch_end: called on the main process after each epoch's checkpoint.
        validate: ``validate(model) -> {"val_...": value}`` on held-out scenes, or None.
        validate_every: epochs between validations (the last epoch is always validated).
        fingerprint: ``checkpoint.run_fingerprint`` of what the run depends on; a
            checkpoint saved under another one (params changed after a kill) is not resumed.

    Returns:
        ``(bare model, history rows)``.
    """
    model = build_dicl_model(cfg)
    device = torch.device(cfg.MODEL.DEVICE)
    optimizer = build_sgd(cfg, model)
    scheduler = build_lr_scheduler(cfg, optimizer)
    trainer = DICLTrainer(
        wrap_distributed(model, device),
        optimizer,
        scheduler,
        iters_per_epoch=cfg.SOLVER.ITERS_PER_EPOCH,
    )
    checkpoint_path = Path(resume_dir) / CHECKPOINT_NAME
    start_iter = 0
    state = load_checkpoint(checkpoint_path, map_location=device, fingerprint=fingerprint)
    if state is not None:
        start_iter = trainer.load_checkpoint_state(state)
        log.info("resuming from iteration %d (%s)", start_iter, checkpoint_path)

    train_mapper = PersonSearchMapper(
        cfg.INPUT.DICL_TRAIN_SCALES,
        flip=cfg.INPUT.RANDOM_FLIP == "horizontal",
        image_format=cfg.INPUT.FORMAT,
        with_targets=True,
    )
    trainer.register_hooks(
        [
            MemoryInitHook(training_set, build_test_mapper(cfg), cfg.TEST.DICL_BATCH_IMAGES),
            PseudoLabelHook(training_set, PseudoLabelConfig.from_cfg(cfg)),
            EpochDataHook(
                training_set,
                train_mapper,
                seed=seed,
                ims_per_batch=cfg.SOLVER.IMS_PER_BATCH,
                num_workers=cfg.DATALOADER.NUM_WORKERS,
            ),
            GlobalGradClipHook(cfg.SOLVER.DICL_CLIP_GLOBAL_NORM)
            if cfg.SOLVER.DICL_CLIP_GLOBAL_NORM > 0
            else None,
            hooks.LRScheduler(optimizer, scheduler),
            ValidationHook(validate, validate_every) if validate is not None else None,
            EpochEndHook(
                lambda s: save_checkpoint(checkpoint_path, {**s, "fingerprint": fingerprint}),
                on_epoch_end,
            ),
            ProgressHook(),
        ]
    )
    if start_iter < cfg.SOLVER.MAX_ITER:
        arm_kill_trigger()  # tests only: see checkpoint.KILL_AFTER_STEP_ENV
        trainer.train(start_iter, cfg.SOLVER.MAX_ITER)
    return trainer.bare_model, trainer.history
