"""DDP smoke test: 2 CPU processes (gloo) launched by torchrun train a couple of iterations."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from pipeline.models.dclnet.network import build_dclnet

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _initial() -> dict:
    return build_dclnet(num_classes=6, seed=0, depth=18, width=8).state_dict()


@pytest.mark.slow
@pytest.mark.parametrize("dense", [True, False], ids=["all-losses", "unused-params"])
def test_two_process_gloo_training_stays_in_sync(tiny_vi, dense):
    cmd = [
        sys.executable, "-m", "torch.distributed.run",
        "--nproc_per_node", "2", "--master_addr", "127.0.0.1", "--master_port", str(free_port()),
        str(HERE / "ddp_worker.py"), str(tiny_vi), "1" if dense else "0",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    ranks = [torch.load(tiny_vi / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    # Each rank saw its own 2 batches ...
    assert ranks[0]["history"][0]["loss"] != ranks[1]["history"][0]["loss"]
    # ... and gradient averaging kept the parameters identical (BN running statistics
    # are each rank's own; DDP broadcasts rank 0's before every forward).
    a, b = ranks[0]["model"], ranks[1]["model"]
    names = [
        n for n, _ in build_dclnet(num_classes=6, seed=0, depth=18, width=8).named_parameters()
    ]
    assert all(torch.equal(a[k], b[k]) for k in names)
    assert not torch.equal(
        a["backbone.visible.conv1.weight"], _initial()["backbone.visible.conv1.weight"]
    )
    written = torch.load(tiny_vi / "models" / "model.pt", weights_only=True)
    assert all(torch.equal(written[k], a[k]) for k in a)  # rank 0 wrote the output
    assert ("loss_dense" in ranks[0]["history"][0]) == dense
