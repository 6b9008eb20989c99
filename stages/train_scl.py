"""DVC stage ``train_scl``: unsupervised re-id with selective contrastive learning.

Reads the ``scl`` section of params.yaml (as composed from conf/), trains on
the train split of ``<data>/index.csv`` (identities never read for training) and
writes ``--model-dir`` (``model.pt``, ``config.json``, ``pseudo_labels/``) and
``--plots-dir``. A killed run resumes from ``models/.scl.resume/``. Run from the
repository root (flags: stages/_track.py; dvc.yaml passes every path)::

    python -m stages.train_scl
    torchrun --nproc_per_node 2 -m stages.train_scl     # DDP
"""

from __future__ import annotations

from collections.abc import Sequence

import pipeline.models.scl.train  # noqa: F401  (what train_model runs: a dvc.yaml dep)
from pipeline.models import scl
from stages._main import run
from stages._track import train


def main(argv: Sequence[str] | None = None) -> None:
    train(scl, argv, __doc__)


if __name__ == "__main__":
    run(main, "train_scl")
