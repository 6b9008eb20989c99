"""EpochLoop under DDP: a resumed run continues every rank's RNG streams, not only rank 0's."""

from __future__ import annotations

import os
import socket
from pathlib import Path

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from pipeline.engine.epoch_loop import EpochLoop


class _DrawingTask:
    """Records one random draw per epoch: what a rank's augmentations would use.

    Its state is the model's (the same on every rank, saved by rank 0), so the draws
    are kept outside it: a resumed process holds only the epochs it ran.
    """

    def __init__(self) -> None:
        self.draws: list[float] = []

    def train_epoch(self, epoch: int) -> dict[str, float]:
        self.draws.append(float(torch.rand(())))
        return {"draw": self.draws[-1]}

    def state_dict(self) -> dict:
        return {}

    def load_state_dict(self, state: dict) -> None:
        pass


def _worker(rank: int, port: int, resume_dir: str, epochs: int, out: str) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=2)
    try:
        torch.manual_seed(100 + rank)  # ranks draw different streams
        task = _DrawingTask()
        EpochLoop(task, epochs=epochs, resume_dir=resume_dir, save_checkpoints=rank == 0).run()
        torch.save(torch.tensor(task.draws), Path(out) / f"rank{rank}.pt")
    finally:
        dist.destroy_process_group()


def _run(resume_dir: Path, epochs: int, out: Path) -> list[list[float]]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    out.mkdir(parents=True, exist_ok=True)
    mp.spawn(_worker, args=(port, str(resume_dir), epochs, str(out)), nprocs=2)
    return [torch.load(out / f"rank{r}.pt", weights_only=True).tolist() for r in (0, 1)]


@pytest.mark.slow
def test_resumed_ddp_run_continues_every_ranks_rng(tmp_path):
    whole = _run(tmp_path / "a.resume", 3, tmp_path / "a")
    _run(tmp_path / "b.resume", 1, tmp_path / "b1")  # "killed" after epoch 0's checkpoint
    resumed = _run(tmp_path / "b.resume", 3, tmp_path / "b")
    assert whole[0] != whole[1]  # the ranks' streams differ, so rank 1 is a real check
    assert resumed == [whole[0][1:], whole[1][1:]]
