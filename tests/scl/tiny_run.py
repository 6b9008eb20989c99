"""Run the SCL library entry point on the tiny dataset (for subprocess tests).

Usage: ``python -m tests.scl.tiny_run <data_root> <out_dir> [epochs] [mode]``
(from the repository root; ``tests.helpers.workers`` runs it). Under torchrun each rank also writes
``<out_dir>/rank<r>.txt`` with digests of its model and memory banks, so a test
can check that DDP keeps them identical across ranks.
"""

from __future__ import annotations

import hashlib
import sys
from pathlib import Path

import torch

from pipeline.models.scl import train as train_module
from pipeline.runtime import setup
from tests.real_config import runtime_settings
from tests.scl.tiny_data import tiny_settings


def _digest(tensors) -> str:
    h = hashlib.md5()
    for t in tensors:
        h.update(t.detach().cpu().contiguous().numpy().tobytes())
    return h.hexdigest()


def main() -> None:
    data_root, out = Path(sys.argv[1]), Path(sys.argv[2])
    epochs = int(sys.argv[3]) if len(sys.argv) > 3 else 3
    mode = sys.argv[4] if len(sys.argv) > 4 else "cluster"
    runtime = setup(runtime_settings(threads=1, device="cpu"), 0)
    settings = tiny_settings(mode=mode, train={"epochs": epochs, "warmup_epochs": 1})
    captured = {}
    original = train_module.SCLTrainer

    class Capturing(original):  # keep a handle on the trainer for the digests
        def __init__(self, **kwargs):
            super().__init__(**kwargs)
            captured["trainer"] = self

    train_module.SCLTrainer = Capturing
    train_module.train_scl(
        settings,
        index_csv=data_root / "index.csv",
        root=data_root,
        model_dir=out / "model",
        plots_dir=out / "plots",
        runtime=runtime,
        seed=0,
    )
    if runtime.distributed:
        trainer = captured["trainer"]
        mem = trainer.memory
        line = " ".join(
            [
                _digest(trainer.net.parameters()),
                _digest([mem.global_bank, mem.local_bank, mem.mixture_bank]),
                _digest(trainer.rounds or [torch.zeros(1)]),
            ]
        )
        (out / f"rank{runtime.rank}.txt").write_text(line + "\n")
        torch.distributed.destroy_process_group()


if __name__ == "__main__":
    main()
