"""Resume checkpoints: written atomically each epoch, read with ``weights_only=True``.

A killed training stage rerun by ``dvc repro`` loads the last complete
checkpoint (model, optimizer, scheduler, RNG states, epoch, extra state such as
memory banks or pseudo labels) and ends with the same bytes as an uninterrupted
run. Checkpoints live outside DVC outputs (``<out>.resume/``) so an interrupted
stage leaves no partial output, and are removed once the stage completes.
"""

from __future__ import annotations

import contextlib
import shutil
from pathlib import Path
from typing import Any

import torch

from pipeline.io import atomic_path

CHECKPOINT_NAME = "last.pt"


def resume_dir(output_dir: str | Path) -> Path:
    """Where a stage writing ``output_dir`` keeps its resume state."""
    output_dir = Path(output_dir)
    return output_dir.with_name(f".{output_dir.name}.resume")


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """``torch.save`` to a temp file, then rename: a kill never leaves a torn checkpoint."""
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict | None:
    """The saved state, or None when there is none. Never unpickles arbitrary objects."""
    path = Path(path)
    if not path.is_file():
        return None
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # a corrupt checkpoint must not silently restart training
        raise RuntimeError(
            f"{path}: cannot read resume checkpoint ({exc}); delete it to restart from scratch"
        ) from exc


def clear_resume(output_dir: str | Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        shutil.rmtree(resume_dir(output_dir))


def load_weights(path: str | Path, map_location: str | torch.device = "cpu") -> dict:
    """Load a state dict from a local file (pretrained or final weights), safely."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: weights file not found")
    state = torch.load(path, map_location=map_location, weights_only=True)
    if isinstance(state, dict) and "model" in state and isinstance(state["model"], dict):
        state = state["model"]
    if not isinstance(state, dict):
        raise ValueError(f"{path}: expected a state dict, got {type(state).__name__}")
    return state
