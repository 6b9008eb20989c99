"""DVC stage ``train_dclnet``: DCLNet on the dataset ``dclnet.dataset`` picks.

Reads the ``dclnet`` section of params.yaml, trains (SYSU-MM01: one model; RegDB:
one per split, each resumable on its own) and writes ``--model-dir`` and
``--plots-dir`` atomically. A killed run rerun resumes from its last epoch. Run from
the repository root (flags: stages/_track.py; dvc.yaml passes every path)::

    python -m stages.train_dclnet
    torchrun --nproc_per_node 2 -m stages.train_dclnet   # DDP
"""

from __future__ import annotations

from collections.abc import Sequence

import pipeline.models.dclnet.training  # noqa: F401  (what train_model runs: a dvc.yaml dep)
from pipeline.models import dclnet
from stages._main import run
from stages._track import train


def main(argv: Sequence[str] | None = None) -> None:
    train(dclnet, argv, __doc__)


if __name__ == "__main__":
    run(main, "train_dclnet")
