"""DVC stage ``eval_dicl``: person search evaluation of the trained DICL model.

Writes ``--metrics`` (``mAP``, ``top1``, ``top5``, ``top10``, ``det_ap``,
``det_recall``, per-gallery keys, and the same for the untrained model with an
``init_`` prefix) and ``--plots-dir`` (``cmc.csv``, ``det_pr.csv``,
``ranked_list.png``). The final model is evaluated: nothing is chosen on test data.
Run from the repository root (flags: stages/_track.py; dvc.yaml passes every path)::

    python -m stages.eval_dicl
"""

from __future__ import annotations

from collections.abc import Sequence

from pipeline.models import dicl
from stages._main import run
from stages._track import evaluate


def main(argv: Sequence[str] | None = None) -> None:
    evaluate(dicl, argv, __doc__)


if __name__ == "__main__":
    run(main, "eval_dicl")
