"""One rank of the DDP batch-rule test: what each track's training code takes per process.

Usage, from the repository root (``tests.helpers.workers`` runs it)::

    torchrun --nproc_per_node 2 -m tests.batch_rule_worker OUT SCL_INDEX VI_ROOT RULE SCALING
    python -m tests.batch_rule_worker OUT SCL_INDEX VI_ROOT RULE SCALING --launch 2

The second form starts the ranks with detectron2's launcher (``pipeline.models.dicl.launch``),
as ``train_dicl`` does. Each rank joins the gloo group through ``pipeline.runtime.setup`` with
``runtime.batch_rule`` RULE and ``runtime.lr_scaling`` SCALING, builds each track's training
state the way its trainer does (DICL's config from the paper's section, the SCL and DCLNet
trainers on tiny data) and writes ``OUT/rank<r>.json``: the batch each process takes, the
learning rates and warm-up the optimisers start from, and what one step holds.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def worker(argv: list[str]) -> None:
    import torch
    import torch.distributed as dist

    from pipeline.models.dclnet.data import load_train_set
    from pipeline.models.dclnet.network import build_dclnet
    from pipeline.models.dclnet.settings import DclnetSettings
    from pipeline.models.dclnet.trainer import DclnetTrainer
    from pipeline.models.dicl.run import training_cfg
    from pipeline.models.dicl.settings import DiclSettings
    from pipeline.models.scl import data as scl_data
    from pipeline.models.scl.network import build_net_for
    from pipeline.models.scl.trainer import SCLTrainer
    from pipeline.runtime import setup
    from tests.dclnet.dclnet_tiny import TINY_SETTINGS
    from tests.real_config import runtime_settings, track_section
    from tests.scl.tiny_data import HEIGHT, WIDTH, tiny_settings

    out, scl_index, vi_root = Path(argv[0]), Path(argv[1]), Path(argv[2])
    rule, scaling = argv[3], argv[4]
    runtime = setup(
        runtime_settings(
            threads=1, device="cpu", dist_backend="gloo", batch_rule=rule, lr_scaling=scaling
        ),
        0,
    )
    report: dict = {"rank": runtime.rank, "world_size": runtime.world_size}

    # DICL: the paper's section (4 images per step, lr 0.001, 2242 warm-up iterations).
    dicl = DiclSettings.model_validate(track_section("dicl"))
    cfg = training_cfg(dicl, runtime, num_images=800, memory_size=16)
    report["dicl"] = {
        "ims_per_batch": cfg.SOLVER.IMS_PER_BATCH,
        "lr": cfg.SOLVER.BASE_LR,
        "warmup_iters": cfg.SOLVER.WARMUP_ITERS,
        "iters_per_epoch": cfg.SOLVER.ITERS_PER_EPOCH,
    }

    # SCL: the tiny section (8 images per step, lr 0.01).
    scl = tiny_settings()
    root = scl_index.parent
    kwargs = {"height": HEIGHT, "width": WIDTH, "held_out": ()}
    trainer = SCLTrainer(
        net=build_net_for(scl, None, seed=0),
        settings=scl,
        train_set=scl_data.train_dataset(scl_index, root, flip=0.0, **kwargs),
        extract_set=scl_data.test_dataset(scl_index, root, "train", **kwargs),
        runtime=runtime,
        seed=0,
    )
    sampler = scl_data.ShuffledBatchSampler(
        range(len(trainer.train_set)),
        trainer.batch.per_process,
        seed=0,
        rank=runtime.rank,
        world_size=runtime.world_size,
    )
    report["scl"] = {
        "batch_size": trainer.batch.per_process,
        "lr": trainer.optimizer.param_groups[0]["lr"],
        "first_batch": len(next(iter(sampler))),
    }

    # DCLNet: the tiny section (2 identities x 2 images per modality, 2 steps per epoch).
    dclnet = DclnetSettings.model_validate(TINY_SETTINGS)
    train_set = load_train_set(vi_root / "processed" / "index.csv", dclnet.input, vi_root)
    vi = DclnetTrainer(
        build_dclnet(num_classes=train_set.num_classes, seed=0, depth=18, width=8),
        train_set.dataset,
        train_set.labels,
        train_set.modalities,
        dclnet,
        runtime,
        seed=0,
    )
    lr = vi._set_lr(0)  # the tiny section warms up over 1 epoch: epoch 0 is at the base lr
    report["dclnet"] = {
        "ids_per_batch": vi.batch.per_process,
        "lr": lr,
        "group_lrs": [g["lr"] for g in vi.optimizer.param_groups],
        "first_batch": len(next(iter(vi.sampler))),
        "steps": len(vi.sampler),
    }
    (out / f"rank{runtime.rank}.json").write_text(json.dumps(report, sort_keys=True))
    dist.barrier()
    torch.distributed.destroy_process_group()


if __name__ == "__main__":
    args = sys.argv[1:]
    if "--launch" in args:
        at = args.index("--launch")
        from pipeline.models.dicl.launch import launch_workers

        launch_workers(worker, int(args[at + 1]), args[:at])
    else:
        worker(args)
