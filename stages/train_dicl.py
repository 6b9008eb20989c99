"""DVC stage ``train_dicl``: weakly supervised person search with DICL on detectron2.

Reads the ``dicl`` section of params.yaml (as composed from conf/), trains on
``<data>/train.json`` (boxes only; person ids are never read for training) and writes
``--model-dir`` (``model.pt``, ``config.json``) and ``--plots-dir``
(``history.csv``/``.png``, ``pseudo_labels.csv``). With ``dicl.validation.ids`` > 0
the scenes of that many drawn training identities are held out and searched
(``val_det_recall``, ``val_det_ap``, ``val_mAP``, ``val_top1`` in the history and
MLflow); test data is never read. A killed run resumes from ``models/.dicl.resume/``.
Run from the repository root (flags: stages/_track.py; dvc.yaml passes every path)::

    python -m stages.train_dicl                      # runtime.num_processes > 1: detectron2 launch
    torchrun --nproc_per_node 2 -m stages.train_dicl
"""

from __future__ import annotations

import os
from collections.abc import Sequence

import pipeline.models.dicl.run  # noqa: F401  (what train_model runs: a dvc.yaml dep)
from pipeline.models import dicl
from pipeline.models.dicl.launch import launch_workers
from pipeline.params import RuntimeSettings, load_params, section
from stages._main import run
from stages._track import parse_args, train


def worker(argv: Sequence[str] | None) -> None:
    """One training process: the only one, or one rank of a distributed run."""
    train(dicl, argv, __doc__)


def main(argv: Sequence[str] | None = None) -> None:
    # DICL's one special path: with runtime.num_processes > 1 and no torchrun around it,
    # detectron2's launcher spawns the ranks (a module-level worker, as it pickles it).
    args = parse_args("train_dicl", argv, __doc__)
    processes = section(load_params(args.params), "runtime", RuntimeSettings).num_processes
    if processes > 1 and "WORLD_SIZE" not in os.environ:
        launch_workers(worker, processes, argv)
    else:
        worker(argv)


if __name__ == "__main__":
    run(main, "train_dicl")
