"""Training is deterministic and a killed run resumes to the same bytes (subprocesses)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

from dicl.tiny_world import write_tiny_world
from pipeline.checkpoint import resume_dir

SCRIPT = Path(__file__).with_name("tiny_run.py")
OUTPUTS = [
    "model/model.pt",
    "model/config.json",
    "plots/history.csv",
    "plots/pseudo_labels.csv",
    "memory_rank0.txt",
]
EPOCHS = "3"


def _command(data: Path, out: Path, root: Path) -> list[str]:
    return [sys.executable, str(SCRIPT), str(data), str(out), str(root), EPOCHS]


def _env() -> dict:
    return {**os.environ, "OMP_NUM_THREADS": "1"}


@pytest.mark.slow
def test_killed_training_resumes_to_identical_bytes(tmp_path):
    data = write_tiny_world(tmp_path / "data", tmp_path)
    straight, killed = tmp_path / "straight", tmp_path / "killed"
    subprocess.run(_command(data, straight, tmp_path), check=True, env=_env(), capture_output=True)

    checkpoint = resume_dir(killed / "model") / "last.pt"
    proc = subprocess.Popen(
        _command(data, killed, tmp_path),
        env=_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 240
    while not checkpoint.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert checkpoint.exists(), "no epoch checkpoint appeared"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert not (killed / "model").exists()  # no partial output

    rerun = subprocess.run(
        _command(data, killed, tmp_path), check=True, env=_env(), capture_output=True, text=True
    )
    assert "resuming from iteration" in rerun.stderr
    for name in OUTPUTS:
        assert (straight / name).read_bytes() == (killed / name).read_bytes(), name
    assert not resume_dir(killed / "model").exists()  # cleared on success


@pytest.mark.slow
def test_a_checkpoint_of_other_settings_is_not_resumed(tmp_path):
    # Left by a run killed before its params were changed: resuming it would mix two runs.
    data = write_tiny_world(tmp_path / "data", tmp_path)
    out = tmp_path / "out"
    checkpoint = resume_dir(out / "model") / "last.pt"
    checkpoint.parent.mkdir(parents=True)
    torch.save({"iteration": 5, "fingerprint": "another run"}, checkpoint)
    rerun = subprocess.run(
        _command(data, out, tmp_path), check=True, env=_env(), capture_output=True, text=True
    )
    assert "not resuming it, starting over" in rerun.stderr
    assert "resuming from iteration" not in rerun.stderr
    assert (out / "model" / "model.pt").is_file()
