"""Subprocess runs of test worker modules (``python -m tests.<pkg>.<module>``), alone or as DDP.

Workers are modules of the ``tests`` package run from the repository root with it on
PYTHONPATH, so they import ``pipeline`` and their own package without touching
``sys.path``. A DDP run starts two ranks with torchrun on a free local port; each rank
uses one thread (the machine is shared).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def worker_env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def module_command(module: str, *args: object, ranks: int = 1) -> list[str]:
    """``python -m <module> <args>``, or under torchrun with ``ranks`` processes."""
    launcher = []
    if ranks > 1:
        launcher = [
            "-m", "torch.distributed.run", "--nproc_per_node", str(ranks),
            "--master_addr", "127.0.0.1", "--master_port", str(free_port()),
        ]  # fmt: skip
    return [sys.executable, *launcher, "-m", module, *map(str, args)]


def run_worker(
    module: str, *args: object, ranks: int = 1, timeout: int = 600
) -> subprocess.CompletedProcess:
    """Run a worker module to completion; fail the test with its stderr if it fails."""
    proc = subprocess.run(
        module_command(module, *args, ranks=ranks),
        cwd=REPO,
        env=worker_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert proc.returncode == 0, f"{module} exited {proc.returncode}:\n{proc.stderr[-4000:]}"
    return proc
