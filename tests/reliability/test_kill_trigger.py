"""The test-only kill trigger (``pipeline.checkpoint.KILL_AFTER_STEP_ENV``), in process."""

from __future__ import annotations

import pytest
import torch

from pipeline import checkpoint
from pipeline.checkpoint import KILL_AFTER_STEP_ENV, KILLED_EXIT_CODE, arm_kill_trigger


@pytest.fixture()
def disarm(monkeypatch):
    """Remove a hook a test armed, so that no later optimizer step in this process sees it."""
    monkeypatch.setattr(checkpoint, "_kill_trigger", None)
    yield
    if checkpoint._kill_trigger is not None:
        checkpoint._kill_trigger.remove()


def _steps(optimizer: torch.optim.Optimizer, count: int) -> None:
    for _ in range(count):
        optimizer.step()


def test_unset_registers_nothing(disarm, monkeypatch):
    monkeypatch.delenv(KILL_AFTER_STEP_ENV, raising=False)
    arm_kill_trigger()
    assert checkpoint._kill_trigger is None


def test_exits_right_after_the_nth_step(disarm, monkeypatch, capfd):
    def fake_exit(code: int):
        raise SystemExit(code)

    monkeypatch.setenv(KILL_AFTER_STEP_ENV, "3")
    monkeypatch.setattr(checkpoint.os, "_exit", fake_exit)
    arm_kill_trigger()
    arm_kill_trigger()  # a second loop in the process (RegDB splits) counts on
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
    _steps(optimizer, 2)
    with pytest.raises(SystemExit) as ended:
        _steps(optimizer, 1)
    assert ended.value.code == KILLED_EXIT_CODE
    assert (
        f"{KILL_AFTER_STEP_ENV}=3: exiting ({KILLED_EXIT_CODE}) after step 3"
        in capfd.readouterr().err
    )


@pytest.mark.parametrize("value", ["0", "-1", "two", "1.5"])
def test_anything_but_a_positive_integer_is_refused(disarm, monkeypatch, value):
    monkeypatch.setenv(KILL_AFTER_STEP_ENV, value)
    with pytest.raises(ValueError, match=KILL_AFTER_STEP_ENV):
        arm_kill_trigger()
