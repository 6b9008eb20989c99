"""A tiny repository copy for the reliability tests, and uninterrupted reference runs.

The copy is `tests.e2e.conftest.make_tiny_repo` (tiny worlds, every mechanism
on) with two epochs per track, so that a run killed in its second epoch resumes from a
checkpoint, and one thread per stage (the machine is shared). Reference outputs
of each training stage come from one uninterrupted run of the stage script on the
same params, outside DVC (so DVC's run cache never sees them).
"""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import make_tiny_repo, run

PYTHON = sys.executable

# track -> (params section, dataset, stage module, model-dir flag, plots-dir flag)
TRACKS = {
    "scl": ("scl", "synthetic_market1501", "stages.train_scl", "--model-dir", "--plots-dir"),
    "dclnet": (
        "dclnet",
        "synthetic_sysu_mm01",
        "stages.train_dclnet",
        "--model-dir",
        "--plots-dir",
    ),
    "dicl": ("dicl", "synthetic_cuhk_sysu", "stages.train_dicl", "--model-dir", "--plots-dir"),
}
# Epochs per track in the reliability copy: a run killed in epoch 1 resumes from epoch 0's
# checkpoint (tests/helpers/kill_resume.py).
KILL_EPOCHS = {"scl": 2, "dclnet": 2, "dicl": 2}


def lengthen_schedules(params: dict) -> dict:
    """Two epochs per track (a kill after a checkpoint); one torch thread per stage."""
    params["runtime"]["threads"] = 1
    for track, epochs in KILL_EPOCHS.items():
        params[TRACKS[track][0]]["train"]["epochs"] = epochs
    # DICL's held-out validation scenes are a tuning aid, not part of the method (the
    # paper's value is 0 = off); the tiny world has too few identities to spare any.
    params["dicl"]["validation"]["ids"] = 0
    return params


def tree_md5(*roots: Path, skip_hidden: bool = False) -> dict[str, str]:
    """md5 of every file under ``roots``, keyed by its path relative to its root's parent.

    ``skip_hidden`` leaves out hidden entries (a killed writer's temporaries).
    """
    digests = {}
    for root in roots:
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            rel = path.relative_to(root.parent).as_posix()
            if skip_hidden and any(part.startswith(".") for part in rel.split("/")):
                continue
            digests[rel] = hashlib.md5(path.read_bytes()).hexdigest()
    return digests


def hidden_leftovers(folder: Path) -> list[str]:
    """Hidden temporaries (``.<name>.<pid>.<x>.tmp``, ``.<name>.old-<pid>``) in ``folder``."""
    if not folder.is_dir():
        return []
    return sorted(
        p.name
        for p in folder.iterdir()
        if p.name.startswith(".") and (p.name.endswith(".tmp") or ".old-" in p.name)
    )


class TinyRepo:
    """The reliability copy: run DVC and stage scripts in it, keep reference digests."""

    def __init__(self, root: Path, env: dict, scratch: Path) -> None:
        self.root = root
        self.env = env
        self.scratch = scratch
        self._references: dict[str, dict[str, str]] = {}

    def stage_env(self, **extra: str) -> dict:
        """Environment for a stage run outside DVC: a private MLflow store unless overridden."""
        env = dict(self.env)
        env.setdefault("MLFLOW_TRACKING_URI", f"sqlite:///{self.scratch / 'mlflow.db'}")
        env.update(extra)
        return env

    def dvc(self, *args: str, timeout: int = 600) -> subprocess.CompletedProcess:
        return run(["dvc", *args], self.root, self.env, timeout=timeout)

    def train_command(self, track: str, out: Path) -> list[str]:
        module, model_flag, plots_flag = TRACKS[track][2:]
        return [
            PYTHON,
            "-m",
            module,
            model_flag,
            str(out / "models" / track),
            plots_flag,
            str(out / "plots" / track / "train"),
        ]

    def ensure_data(self, track: str) -> None:
        """``dvc repro convert@<dataset>`` (a no-op once done)."""
        self.dvc("repro", f"convert@{TRACKS[track][1]}")

    def reference(self, track: str) -> dict[str, str]:
        """Digests of an uninterrupted training run (with tracking to a local store)."""
        if track not in self._references:
            self.ensure_data(track)
            out = self.scratch / "reference"
            run(self.train_command(track, out), self.root, self.stage_env())
            self._references[track] = tree_md5(
                out / "models" / track, out / "plots" / track / "train"
            )
        return self._references[track]

    def dvc_outputs(self, track: str) -> dict[str, str]:
        """Digests of the training stage's DVC outputs in the copy."""
        return tree_md5(self.root / "models" / track, self.root / "plots" / track / "train")


@pytest.fixture(scope="session")
def tiny(tmp_path_factory) -> TinyRepo:
    root, env = make_tiny_repo(tmp_path_factory.mktemp("reliability"), lengthen_schedules)
    env = {**env, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    return TinyRepo(root, env, tmp_path_factory.mktemp("reliability-scratch"))


@pytest.fixture(autouse=True)
def _no_inherited_tracking(monkeypatch):
    """In-process stage runs must not write to the project's store."""
    for key in list(os.environ):
        if key.startswith("MLFLOW_"):
            monkeypatch.delenv(key)
