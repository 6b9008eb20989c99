"""An epoch loop with resume, progress and per-epoch history.

Training side effects hang around the loop (docs/style.md, "Training side effects are
hooks"), which stays minimal: a track supplies an :class:`EpochTask` (what one epoch
does and what state it owns); the loop resumes from the last checkpoint, runs the
remaining epochs, checkpoints atomically after each, records one history row per
epoch and forwards it to an ``on_epoch_end`` callback (MLflow, curves). A killed
and rerun stage continues from the last finished epoch with every RNG restored,
so it ends with the same bytes as an uninterrupted run.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol

import torch.distributed as dist

from pipeline.checkpoint import (
    CHECKPOINT_NAME,
    arm_kill_trigger,
    load_checkpoint,
    save_checkpoint,
)
from pipeline.runtime import rng_state, set_rng_state

log = logging.getLogger(__name__)


class EpochTask(Protocol):
    """What a track's trainer implements for :class:`EpochLoop`."""

    def train_epoch(self, epoch: int) -> dict[str, float]:
        """Run one epoch (0-based); return its scalar metrics (losses, pseudo-label stats)."""

    def state_dict(self) -> dict[str, Any]:
        """Everything needed to resume: model, optimizer, scheduler, memory banks, ..."""

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class EpochLoop:
    """Run ``task`` for ``epochs`` epochs with resume from ``resume_dir``.

    Args:
        task: the track's epoch logic and resumable state.
        epochs: total number of epochs.
        resume_dir: where ``last.pt`` lives (outside the stage's DVC outputs).
        on_epoch_end: called with ``(epoch, row)`` after each epoch's checkpoint,
            for the epochs run in this process (the history holds all of them).
        save_checkpoints: only the main DDP rank writes.
        fingerprint: what the run depends on (``checkpoint.run_fingerprint`` of the
            settings, seed, data digest); a checkpoint saved with another one is
            discarded instead of resumed (a killed run whose params then changed).
    """

    def __init__(
        self,
        task: EpochTask,
        *,
        epochs: int,
        resume_dir: str | Path,
        on_epoch_end: Callable[[int, dict[str, float]], None] | None = None,
        save_checkpoints: bool = True,
        fingerprint: str | None = None,
    ) -> None:
        self.task = task
        self.epochs = epochs
        self.checkpoint_path = Path(resume_dir) / CHECKPOINT_NAME
        self.on_epoch_end = on_epoch_end
        self.save_checkpoints = save_checkpoints
        self.fingerprint = fingerprint
        self.history: list[dict[str, float]] = []
        self.start_epoch = 0

    def resume(self) -> int:
        """Load the last checkpoint if there is one; return the first epoch still to run."""
        state = load_checkpoint(self.checkpoint_path, fingerprint=self.fingerprint)
        if state is not None:
            self.task.load_state_dict(state["task"])
            rank, world_size = _rank_and_world_size()
            by_rank = state.get("rng_by_rank")
            if by_rank is not None and len(by_rank) == world_size:
                set_rng_state(by_rank[rank])
            else:  # one process, or a world size that changed: rank 0's streams
                set_rng_state(state["rng"])
            self.history = list(state["history"])
            self.start_epoch = int(state["epoch"]) + 1
            log.info(
                "resuming from epoch %d of %d (%s)",
                self.start_epoch,
                self.epochs,
                self.checkpoint_path,
            )
        return self.start_epoch

    def run(self) -> list[dict[str, float]]:
        """Train the remaining epochs; return the per-epoch history (all epochs)."""
        self.resume()
        arm_kill_trigger()  # tests only: see checkpoint.KILL_AFTER_STEP_ENV
        for epoch in range(self.start_epoch, self.epochs):
            row = {"epoch": epoch, **self.task.train_epoch(epoch)}
            self.history.append(row)
            # Each DDP rank draws its own augmentations and negatives: every rank's RNG
            # streams go into the checkpoint, or a resumed run would differ on ranks > 0.
            by_rank = _gather_rng_states()
            if self.save_checkpoints:
                save_checkpoint(
                    self.checkpoint_path,
                    {
                        "epoch": epoch,
                        "task": self.task.state_dict(),
                        "rng": rng_state(),
                        **({"rng_by_rank": by_rank} if by_rank is not None else {}),
                        "history": self.history,
                        **({"fingerprint": self.fingerprint} if self.fingerprint else {}),
                    },
                )
            if self.on_epoch_end is not None:
                self.on_epoch_end(epoch, row)
        return self.history


def _rank_and_world_size() -> tuple[int, int]:
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def _gather_rng_states() -> list[dict] | None:
    """Every rank's ``rng_state()``, in rank order; None outside a process group."""
    rank, world_size = _rank_and_world_size()
    if world_size == 1:
        return None
    states: list[dict | None] = [None] * world_size
    dist.all_gather_object(states, rng_state())
    return states
