"""Train DICL on a tiny world in its own process (the DDP and foreign-checkpoint tests run it).

Usage: ``python -m tests.dicl.tiny_run DATA_DIR OUT_DIR PATH_ROOT EPOCHS [PROCESSES]``, from
the repository root (``tests.helpers.workers`` runs it).
Writes ``OUT_DIR/model`` and ``OUT_DIR/plots``; each rank also writes
``OUT_DIR/memory_rank<r>.txt`` (a digest of its memory) to check that the copies agree.
"""

from __future__ import annotations

import copy
import hashlib
import sys
from pathlib import Path

from pipeline.models.dicl.launch import launch_workers
from tests.dicl.conftest import TINY_SECTION


def worker(argv: list[str]) -> None:
    import torch.distributed as dist

    from pipeline.models.dicl import trainer as trainer_module
    from pipeline.models.dicl.run import train_from_params
    from pipeline.models.dicl.settings import DiclSettings
    from pipeline.runtime import setup
    from tests.real_config import runtime_settings

    data_dir, out_dir, path_root, epochs = Path(argv[0]), Path(argv[1]), Path(argv[2]), int(argv[3])
    section = copy.deepcopy(TINY_SECTION)
    section["train"]["epochs"] = epochs
    settings = DiclSettings.model_validate(section)
    runtime = setup(runtime_settings(threads=1, device="cpu"), 0)

    memories = []
    original = trainer_module.train_dicl

    def spy(*args, **kwargs):
        model, history = original(*args, **kwargs)
        memories.append(model.memory.features.numpy().tobytes())
        return model, history

    trainer_module.train_dicl = spy
    import pipeline.models.dicl.run as run_module

    run_module.train_dicl = spy
    train_from_params(
        settings,
        "cuhk_sysu",
        runtime=runtime,
        seed=0,
        data_dir=data_dir,
        path_root=path_root,
        model_dir=out_dir / "model",
        plots_dir=out_dir / "plots",
    )
    rank = dist.get_rank() if dist.is_initialized() else 0
    digest = hashlib.sha256(memories[0]).hexdigest()
    (out_dir / f"memory_rank{rank}.txt").write_text(digest)


if __name__ == "__main__":
    import logging

    logging.basicConfig(level=logging.INFO)
    args = sys.argv[1:]
    processes = int(args[4]) if len(args) > 4 else 1
    if processes > 1:
        launch_workers(worker, processes, args[:4])
    else:
        worker(args[:4])
