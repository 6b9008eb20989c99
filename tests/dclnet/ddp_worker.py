"""torchrun entry of the DDP test: one rank of a 2-process gloo run on the tiny world.

Usage: ``torchrun --nproc_per_node 2 ddp_worker.py <root> <dense on: 0|1>``. Each
rank saves its final weights and history to ``<root>/rank<r>.pt`` so the test can
check that the ranks stayed in sync; rank 0 also writes the stage outputs.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent), str(Path(__file__).resolve().parents[2])]

import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402
from dclnet_tiny import TINY_SETTINGS  # noqa: E402

from pipeline.models.dclnet.settings import DclnetSettings  # noqa: E402
from pipeline.models.dclnet.training import train_dclnet  # noqa: E402
from pipeline.runtime import setup  # noqa: E402
from tests.real_config import merged, runtime_settings  # noqa: E402


def main(root: Path, dense: bool) -> None:
    runtime = setup(runtime_settings(threads=1, dist_backend="gloo"), 0)
    if runtime.world_size != 2:
        raise SystemExit("launch with torchrun --nproc_per_node 2")
    # 4 batches per epoch: 2 per rank. With the dense loss off, parameters go unused.
    settings = DclnetSettings.model_validate(
        merged(
            TINY_SETTINGS,
            {
                "train": {"epochs": 1, "iters_per_epoch": 4},
                "loss": {
                    "dense": {"enabled": dense},
                    "pixel": {"enabled": dense},
                    "smooth": {"enabled": dense},
                },
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
    main(Path(sys.argv[1]), sys.argv[2] == "1")
