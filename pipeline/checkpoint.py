"""Resume checkpoints: written atomically each epoch, read with ``weights_only=True``.

A killed training stage rerun by ``dvc repro`` loads the last complete
checkpoint (model, optimizer, scheduler, RNG states, epoch, extra state such as
memory banks or pseudo labels) and ends with the same bytes as an uninterrupted
run. Checkpoints live outside DVC outputs (``<out>.resume/``) so an interrupted
stage leaves no partial output, and are removed once the stage completes.

Final weights (``models/<track>/model.pt``) are written by :func:`write_state_dict`
(the one writer of model bytes of every track): serialised in memory under a fixed
archive name, so equal weights give equal bytes whatever the temporary file is
called, then renamed into place.

Nothing here unpickles arbitrary objects: torch files are read with
``weights_only=True`` and pickled weight files (detectron2 / Caffe2 ``.pkl``,
downloaded from a URL) with :func:`load_weights_pickle`, an unpickler that
builds only arrays, dtypes and plain containers and refuses anything else.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import logging
import os
import pickle
import shutil
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch.optim.optimizer import register_optimizer_step_post_hook

from pipeline.io import atomic_path, write_bytes

log = logging.getLogger(__name__)

CHECKPOINT_NAME = "last.pt"


def resume_dir(output_dir: str | Path) -> Path:
    """Where a stage writing ``output_dir`` keeps its resume state."""
    output_dir = Path(output_dir)
    return output_dir.with_name(f".{output_dir.name}.resume")


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """``torch.save`` to a temp file, then rename: a kill never leaves a torn checkpoint."""
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


# The folder name inside a torch.save zip written to a buffer (torch's own choice).
BUFFER_ARCHIVE = "archive"


def cpu_state_dict(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The model's tensors, detached and on CPU, as a plain dict (no version metadata)."""
    return {k: v.detach().cpu() for k, v in model.state_dict().items()}


def state_dict_bytes(state: Mapping[str, Any], *, archive: str = BUFFER_ARCHIVE) -> bytes:
    """``torch.save(state)`` as bytes; equal tensors give equal bytes.

    ``torch.save`` names the folder inside its zip after the file it writes (its
    name without the extension), or ``archive`` for a buffer; a temporary file name
    would thus enter the bytes. Here the name is always ``archive``: the buffer's by
    default, else the file ``<archive>.pt`` written in a private folder (DCLNet's
    files carry ``model``, the name of the file they were first saved as).

    ``state`` is saved as given: a module's ``state_dict()`` keeps its ordered dict
    and version metadata (SCL's files), a plain dict stays plain (:func:`cpu_state_dict`).
    """
    if archive == BUFFER_ARCHIVE:
        buffer = io.BytesIO()
        torch.save(state, buffer)
        return buffer.getvalue()
    if not archive or "/" in archive or "." in archive:
        raise ValueError(f"archive name {archive!r}: a plain name without '/' or '.' is needed")
    with tempfile.TemporaryDirectory(prefix="state-dict-") as folder:
        path = Path(folder) / f"{archive}.pt"
        torch.save(state, path)
        return path.read_bytes()


def write_state_dict(
    path: str | Path, state: Mapping[str, Any], *, archive: str = BUFFER_ARCHIVE
) -> None:
    """Write ``state`` to ``path`` deterministically (:func:`state_dict_bytes`) and atomically.

    A failed or killed write leaves the previous file or none, never a partial one.
    """
    write_bytes(path, state_dict_bytes(state, archive=archive))


class CorruptCheckpointError(RuntimeError, ValueError):
    """A resume checkpoint cannot be read; the message says to delete it.

    A ``ValueError`` too, so a stage reports it as one line with exit code 2
    (``stages._main``) instead of a traceback: the user can fix it.
    """


def run_fingerprint(*parts: Any) -> str:
    """A digest of what a run's checkpoints depend on (settings, seed, data digest, ...).

    Stored in each checkpoint; a checkpoint with another fingerprint belongs to
    a run with other settings (killed, then params changed) and is not resumed.
    """
    text = json.dumps(parts, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def load_checkpoint(
    path: str | Path,
    map_location: str | torch.device = "cpu",
    fingerprint: str | None = None,
) -> dict | None:
    """The saved state, or None when there is none. Never unpickles arbitrary objects.

    Args:
        path: the checkpoint file.
        map_location: where tensors go.
        fingerprint: when given, a checkpoint saved with another (or no)
            ``fingerprint`` entry is stale: it is deleted with a warning and None is
            returned, so training starts from scratch instead of mixing two runs.
    """
    path = Path(path)
    if not path.is_file():
        return None
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # a corrupt checkpoint must not silently restart training
        raise CorruptCheckpointError(
            f"{path}: cannot read resume checkpoint ({type(exc).__name__}); "
            "delete it to restart from scratch"
        ) from exc
    if fingerprint is not None and (
        not isinstance(state, dict) or state.get("fingerprint") != fingerprint
    ):
        log.warning(
            "%s: left by a run with other settings or data; not resuming it, starting over",
            path,
        )
        path.unlink(missing_ok=True)  # every DDP rank may come here
        return None
    return state


def has_resume_state(output_dir: str | Path) -> bool:
    """Whether a killed run of the stage writing ``output_dir`` left a checkpoint to resume."""
    return any(resume_dir(output_dir).rglob(CHECKPOINT_NAME))


def clear_resume(output_dir: str | Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        shutil.rmtree(resume_dir(output_dir))


KILL_AFTER_STEP_ENV = "PIPELINE_TEST_KILL_AFTER_STEP"
"""Test only: ``PIPELINE_TEST_KILL_AFTER_STEP=N`` ends a training process like a kill.

The kill/resume tests (``tests/helpers/kill_resume.py``) set it to stop a training stage
at a chosen point instead of sending SIGKILL after a guessed delay. When it holds a
positive integer N, the training loops (``EpochLoop.run`` for SCL and DCLNet,
``train_dicl`` for DICL) call :func:`arm_kill_trigger`, which registers a global
optimizer step hook: right after the process's N-th ``optimizer.step()`` (counted over
every optimizer and every unit the process trains, from 1; each DDP rank counts its own)
the process writes one line naming the variable to stderr and calls
``os._exit(KILLED_EXIT_CODE)``: no ``finally`` blocks, atexit handlers or buffered output,
as after SIGKILL. A step is followed by its epoch's checkpoint only at an epoch's end,
so N = (steps of epochs 0..E) + 1 stops the run in epoch E + 1 with epoch E's
checkpoint on disk.

Unset or empty (always, outside tests) nothing is registered: no step hook, no cost,
the same outputs. Any other value than a positive integer is refused.
"""
KILLED_EXIT_CODE = 86
"""Exit status of a process ended by :data:`KILL_AFTER_STEP_ENV`."""

_kill_trigger = None  # the armed hook's handle


def arm_kill_trigger() -> None:
    """Arm :data:`KILL_AFTER_STEP_ENV` if set; once per process, a no-op otherwise."""
    global _kill_trigger
    value = os.environ.get(KILL_AFTER_STEP_ENV, "")
    if not value or _kill_trigger is not None:
        return
    if not value.isdigit() or int(value) < 1:
        raise ValueError(f"{KILL_AFTER_STEP_ENV}={value!r}: expected a positive integer")
    last = int(value)
    steps = 0

    def exit_after_last_step(optimizer, args, kwargs) -> None:
        nonlocal steps
        steps += 1
        if steps == last:
            line = f"{KILL_AFTER_STEP_ENV}={last}: exiting ({KILLED_EXIT_CODE}) after step {steps}"
            os.write(2, (line + "\n").encode())
            os._exit(KILLED_EXIT_CODE)

    _kill_trigger = register_optimizer_step_post_hook(exit_after_last_step)
    log.warning("%s=%d: this process ends after optimizer step %d", KILL_AFTER_STEP_ENV, last, last)


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


# What a pickled weight file (detectron2 model zoo, Caffe2/Detectron1) is made of:
# numpy arrays and scalars, their dtypes, dicts; protocol-2 pickles written by
# Python 3 encode bytes with ``_codecs.encode``. numpy 2 moved ``numpy.core`` to
# ``numpy._core``; both names are accepted.
_PICKLE_ALLOWED = {
    ("collections", "OrderedDict"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),  # protocol 5 arrays
    ("numpy._core.numeric", "_frombuffer"),
    ("_codecs", "encode"),
    *(("builtins", name) for name in ("dict", "list", "tuple", "set", "frozenset", "slice")),
    *(("builtins", name) for name in ("int", "float", "complex", "str", "bytes", "bool")),
    *(("__builtin__", name) for name in ("dict", "list", "tuple", "set", "frozenset")),
}


class UnsafePickleError(ValueError):
    """A pickle asked for a callable or class that weight files never need."""


class _WeightsUnpickler(pickle.Unpickler):
    def __init__(self, fh, source: str) -> None:
        super().__init__(fh, encoding="latin1")  # Python 2 (Caffe2) pickles
        self.source = source

    def find_class(self, module: str, name: str):
        if (module, name) not in _PICKLE_ALLOWED:
            raise UnsafePickleError(
                f"{self.source}: refuses to unpickle {module}.{name}; a weights file holds "
                "only arrays, dtypes and plain containers (is it the right file?)"
            )
        if module == "__builtin__":
            module = "builtins"
        try:
            return super().find_class(module, name)
        except (ImportError, AttributeError):
            if not module.startswith(("numpy.core.", "numpy._core.")):
                raise
            # numpy 2 renamed numpy.core to numpy._core; a file may use either name.
            tail = module.split(".", 2)[2]
            other = "numpy._core." if module.startswith("numpy.core.") else "numpy.core."
            return super().find_class(other + tail, name)


def load_weights_pickle(path: str | Path) -> object:
    """Unpickle a weight file (``.pkl``) allowing only arrays, dtypes and plain containers.

    Raises:
        UnsafePickleError: the file asks for anything else (``os.system``, a class,
            ...); nothing of it is executed.
        ValueError: the file is not a readable pickle.
    """
    path = Path(path)
    with path.open("rb") as fh:
        try:
            return _WeightsUnpickler(fh, str(path)).load()
        except UnsafePickleError:
            raise
        except (pickle.UnpicklingError, EOFError, AttributeError, TypeError) as exc:
            raise ValueError(f"{path}: not a readable weights pickle ({exc})") from None
