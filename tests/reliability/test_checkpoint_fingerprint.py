"""Resume checkpoints: one left by a run with other settings is not resumed; a corrupt one is
one clear error.

Without a fingerprint a rerun after ``kill; edit params.yaml; dvc repro`` would
continue the old run's weights under the new params: outputs no clean run makes.
"""

from __future__ import annotations

import logging

import pytest
import torch

from pipeline.checkpoint import run_fingerprint
from pipeline.engine.epoch_loop import EpochLoop
from stages._main import run as run_stage


class CountingTask:
    """One tensor that each epoch adds ``step`` to; records which epochs ran."""

    def __init__(self, step: float) -> None:
        self.value = torch.zeros(1)
        self.step = step
        self.ran: list[int] = []

    def train_epoch(self, epoch: int) -> dict[str, float]:
        self.value += self.step
        self.ran.append(epoch)
        return {"value": float(self.value)}

    def state_dict(self) -> dict:
        return {"value": self.value.clone()}

    def load_state_dict(self, state: dict) -> None:
        self.value = state["value"].clone()


def test_fingerprint_depends_on_every_part():
    assert run_fingerprint({"lr": 0.1}, 0) == run_fingerprint({"lr": 0.1}, 0)
    assert run_fingerprint({"lr": 0.1}, 0) != run_fingerprint({"lr": 0.01}, 0)
    assert run_fingerprint({"lr": 0.1}, 0) != run_fingerprint({"lr": 0.1}, 1)


def test_same_fingerprint_resumes(tmp_path):
    fp = run_fingerprint({"step": 1.0})
    EpochLoop(CountingTask(1.0), epochs=2, resume_dir=tmp_path, fingerprint=fp).run()
    task = CountingTask(1.0)
    EpochLoop(task, epochs=4, resume_dir=tmp_path, fingerprint=fp).run()
    assert task.ran == [2, 3] and float(task.value) == 4.0


def test_other_fingerprint_starts_over_with_a_warning(tmp_path, caplog):
    old = run_fingerprint({"step": 1.0})
    EpochLoop(CountingTask(1.0), epochs=2, resume_dir=tmp_path, fingerprint=old).run()
    caplog.set_level(logging.WARNING)
    task = CountingTask(10.0)
    new = run_fingerprint({"step": 10.0})
    EpochLoop(task, epochs=4, resume_dir=tmp_path, fingerprint=new).run()
    assert task.ran == [0, 1, 2, 3] and float(task.value) == 40.0
    assert "other settings" in caplog.text


def test_no_fingerprint_keeps_the_old_behaviour(tmp_path):
    EpochLoop(CountingTask(1.0), epochs=2, resume_dir=tmp_path).run()
    task = CountingTask(1.0)
    EpochLoop(task, epochs=3, resume_dir=tmp_path).run()
    assert task.ran == [2]


def test_corrupt_checkpoint_is_one_clear_error(tmp_path, capsys):
    """A damaged resume file stops the stage with exit 2 and says what to delete."""
    checkpoint = tmp_path / ".scl.resume" / "last.pt"
    checkpoint.parent.mkdir()
    checkpoint.write_bytes(b"not a torch file")

    def main(argv):
        EpochLoop(CountingTask(1.0), epochs=2, resume_dir=checkpoint.parent).run()

    with pytest.raises(SystemExit) as exit_info:
        run_stage(main, "train_scl", [])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert f"train_scl: error: {checkpoint}: cannot read resume checkpoint" in err
    assert "delete it" in err and "Traceback" not in err
    assert checkpoint.read_bytes() == b"not a torch file"  # never deleted silently
