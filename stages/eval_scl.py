"""DVC stage ``eval_scl``: query/gallery evaluation of the SCL model and its baselines.

Writes ``--metrics`` (``mAP``, ``rank1``, ``rank5``, ``rank10``, ``mINP`` and the
same with ``init_`` (untrained network) and ``hist_`` (colour histogram) prefixes)
and ``--plots-dir`` (``cmc.csv``, ``ranked_lists.png``). Run from the repository
root (flags: stages/_track.py; dvc.yaml passes every path)::

    python -m stages.eval_scl
"""

from __future__ import annotations

from collections.abc import Sequence

from pipeline.models import scl
from stages._main import run
from stages._track import evaluate


def main(argv: Sequence[str] | None = None) -> None:
    evaluate(scl, argv, __doc__)


if __name__ == "__main__":
    run(main, "eval_scl")
