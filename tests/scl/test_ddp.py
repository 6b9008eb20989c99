"""DDP smoke test: two CPU processes (gloo) train the tiny run and keep identical state."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
RUNNER = Path(__file__).with_name("tiny_run.py")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.mark.slow
def test_two_process_gloo_training(tiny_dataset, tmp_path):
    out = tmp_path / "ddp"
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable, "-m", "torch.distributed.run",
        "--nproc_per_node", "2", "--master_addr", "127.0.0.1", "--master_port", str(_free_port()),
        str(RUNNER), str(tiny_dataset.parent), str(out), "2",
    ]  # fmt: skip
    proc = subprocess.run(cmd, env=env, capture_output=True, timeout=900)
    assert proc.returncode == 0, proc.stderr.decode()[-4000:]
    digests = [(out / f"rank{r}.txt").read_text().split() for r in (0, 1)]
    # Same weights, same memory banks, same pseudo labels on both ranks.
    assert digests[0] == digests[1]
    assert (out / "model/model.pt").is_file()
    history = (out / "plots/history.csv").read_text().splitlines()
    assert len(history) == 3  # header + 2 epochs, written once by rank 0
    # 90 images, global batch 2 x 8: 5 steps of 16 images per epoch.
    assert history[1].split(",")[history[0].split(",").index("images")] == "80"
