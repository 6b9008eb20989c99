"""torchrun entry of the DDP test: one rank of a 2-process gloo run on the tiny world.

Usage: ``torchrun --nproc_per_node 2 -m tests.dclnet.ddp_worker <root>`` from the repository
root (``tests.helpers.workers`` runs it). The dense loss trains and the parser's losses (pixel,
smooth) are off, so the parser's parameters get no gradient: DDP must be told of unused
parameters. Each rank saves its final weights and history to ``<root>/rank<r>.pt`` so the test
can check that the ranks stayed in sync; rank 0 also writes the stage outputs.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
import torch.distributed as dist

from pipeline.models.dclnet.settings import DclnetSettings
from pipeline.models.dclnet.training import train_dclnet
from pipeline.runtime import setup
from tests.dclnet.dclnet_tiny import TINY_SETTINGS
from tests.real_config import merged, runtime_settings


def main(root: Path) -> None:
    runtime = setup(runtime_settings(threads=1, dist_backend="gloo"), 0)
    if runtime.world_size != 2:
        raise SystemExit("launch with torchrun --nproc_per_node 2")
    # 4 steps of the configured 2 identities per epoch (runtime.batch_rule: total): 8
    # batches of 1 identity, 4 per rank.
    settings = DclnetSettings.model_validate(
        merged(
            TINY_SETTINGS,
            {
                "train": {"epochs": 1, "iters_per_epoch": 4},
                "loss": {"pixel": {"enabled": False}, "smooth": {"enabled": False}},
            },
        )
    )
    finals = train_dclnet(
        settings,
        "sysu_mm01",
        data_dir=root / "processed",
        model_dir=root / "models",
        plots_dir=root / "plots",
        runtime=runtime,
        seed=0,
        root=root,
    )
    torch.save(finals["main"], root / f"rank{runtime.rank}.pt")
    dist.destroy_process_group()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
