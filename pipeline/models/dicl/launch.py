"""Multi-process DICL training with detectron2's launcher (docs/design.md, "Scale").

``launch_workers`` spawns ``num_processes`` local processes with
``detectron2.engine.launch`` (NCCL on GPUs, gloo on CPU), which joins them into
one process group. ``pipeline.runtime.setup`` learns the rank and world size from
the torchrun environment variables, so each spawned process sets them from the
group before calling the worker. Under ``torchrun`` the variables are already
there and the worker is called directly.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import torch.distributed as dist
from detectron2.engine import launch
from detectron2.utils import comm


def _rank_entry(worker: Callable[[Sequence[str] | None], None], argv: Sequence[str] | None) -> None:
    os.environ["RANK"] = str(dist.get_rank())
    os.environ["WORLD_SIZE"] = str(dist.get_world_size())
    os.environ["LOCAL_RANK"] = str(comm.get_local_rank())
    os.environ["LOCAL_WORLD_SIZE"] = str(comm.get_local_size())
    worker(argv)


def launch_workers(
    worker: Callable[[Sequence[str] | None], None],
    num_processes: int,
    argv: Sequence[str] | None = None,
) -> None:
    """Run ``worker(argv)`` in ``num_processes`` processes joined in one group.

    Args:
        worker: a module-level function (it is pickled into the spawned processes).
        num_processes: processes on this machine (GPUs, or CPU processes with gloo).
        argv: the worker's arguments.
    """
    if num_processes > 1:
        # The ranks share this machine's cores: OpenMP threads wait passively (see
        # stages/__init__.py). Spawned processes inherit it before importing torch.
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    launch(_rank_entry, num_processes, num_machines=1, dist_url="auto", args=(worker, argv))
