"""DVC stage ``eval_dclnet``: score the trained DCLNet models and two baselines.

SYSU-MM01 (all/indoor, single/multi-shot, 10 trials) or RegDB (both directions,
mean over splits), for the trained model, the untrained one (``init_``) and a colour
histogram (``hist_``). Writes ``--metrics`` (flat, sorted keys, 6 decimals) and
``--plots-dir`` (CMC and precision-recall data, ranked lists). Run from the
repository root (flags: stages/_track.py; dvc.yaml passes every path)::

    python -m stages.eval_dclnet
"""

from __future__ import annotations

from collections.abc import Sequence

from pipeline.models import dclnet
from stages._main import run
from stages._track import evaluate


def main(argv: Sequence[str] | None = None) -> None:
    evaluate(dclnet, argv, __doc__)


if __name__ == "__main__":
    run(main, "eval_dclnet")
