"""Progress of opaque steps: silent when short, an elapsed-time line when long."""

from __future__ import annotations

import time

from pipeline import progress


def test_working_shows_only_long_steps(monkeypatch, capsys):
    monkeypatch.setattr(progress, "DELAY_S", 0.2)
    monkeypatch.setattr(progress, "_TICK_S", 0.05)
    with progress.working("short step"):
        pass
    assert "short step" not in capsys.readouterr().err
    with progress.working("long step"):
        time.sleep(0.5)
    assert "long step: 00:00" in capsys.readouterr().err
    with progress.working("quiet step", disable=True):
        time.sleep(0.5)
    assert "quiet step" not in capsys.readouterr().err
