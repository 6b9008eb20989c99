"""How stage processes set OpenMP's wait policy before torch loads (stages/__init__.py)."""

from __future__ import annotations

import os
import pty
import subprocess
import sys
from pathlib import Path

import pytest

from stages import shares_cores

REPO_ROOT = Path(__file__).resolve().parents[2]
PROBE = "import os, stages; print(os.environ.get('OMP_WAIT_POLICY', 'default'))"


@pytest.mark.parametrize(
    ("ranks", "cwd", "expected"),
    [
        ("1", "/work/repo", False),
        ("2", "/work/repo", True),
        ("1", "/work/repo/.dvc/tmp/exps/tmpab12cd", True),
        ("1", "/work/repo/.dvc/tmp/exps", True),
        ("1", "/work/exps", False),
        ("x", "/work/repo", False),
    ],
)
def test_shares_cores(monkeypatch, ranks, cwd, expected):
    monkeypatch.setenv("LOCAL_WORLD_SIZE", ranks)
    assert shares_cores(cwd) is expected


def _policy(cwd: Path, **env: str) -> str:
    base = {k: v for k, v in os.environ.items() if k not in ("OMP_WAIT_POLICY", "LOCAL_WORLD_SIZE")}
    base["PYTHONPATH"] = str(REPO_ROOT)
    out = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=cwd, env={**base, **env}, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    return out.stdout.strip()


def test_alone_keeps_the_library_default_and_shared_cores_wait_passively(tmp_path):
    assert _policy(tmp_path) == "default"
    assert _policy(tmp_path, LOCAL_WORLD_SIZE="2") == "PASSIVE"
    queued = tmp_path / ".dvc" / "tmp" / "exps" / "tmp1"
    queued.mkdir(parents=True)
    assert _policy(queued) == "PASSIVE"
    assert _policy(queued, OMP_WAIT_POLICY="ACTIVE") == "ACTIVE"  # the user's choice wins


def test_progress_bars_update_rarely_in_a_log_and_live_in_a_terminal(tmp_path):
    # tqdm reads TQDM_* at import: a stage whose stderr is a file (a log) gets
    # 10-second bars, whatever the stage module imports after `stages`.
    probe = "import io, stages, tqdm; print(tqdm.tqdm(total=1, file=io.StringIO()).mininterval)"
    base = {k: v for k, v in os.environ.items() if not k.startswith("TQDM_")}
    base["PYTHONPATH"] = str(REPO_ROOT)
    log = subprocess.run(
        [sys.executable, "-c", probe], cwd=tmp_path, env=base, capture_output=True, text=True
    )
    assert log.returncode == 0, log.stderr
    assert float(log.stdout) == 10.0
    chosen = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=tmp_path,
        env={**base, "TQDM_MININTERVAL": "0.5"},
        capture_output=True,
        text=True,
    )
    assert float(chosen.stdout) == 0.5  # the user's choice wins
    # A terminal keeps tqdm's default: stderr on a pseudo-terminal.
    primary, secondary = pty.openpty()
    try:
        live = subprocess.run(
            [sys.executable, "-c", probe],
            cwd=tmp_path,
            env=base,
            stdout=subprocess.PIPE,
            stderr=secondary,
            text=True,
        )
    finally:
        os.close(secondary)
        os.close(primary)
    assert float(live.stdout) == 0.1
