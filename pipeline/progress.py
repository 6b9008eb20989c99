"""Progress bars for long steps: shown only when a step takes a while.

tqdm on stderr with ``delay``, so short steps and the tests print nothing, while a
pseudo-label round over 10^5 samples shows where it is (neighbour search, Jaccard,
DBSCAN) and a synthetic render its units. Bars never touch a stage's outputs.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from tqdm import tqdm

T = TypeVar("T")

# Seconds before a bar appears: shorter steps stay silent.
DELAY_S = 2.0
# Seconds between redraws of a step that reports no progress of its own, at least (tqdm's
# mininterval can be longer: stages set TQDM_MININTERVAL when stderr is a log file).
_TICK_S = 1.0


def progress(
    items: Iterable[T], *, desc: str, disable: bool = False, total: int | None = None
) -> Iterator[T]:
    """``items`` wrapped in a bar that appears after ``DELAY_S`` seconds (stderr)."""
    yield from tqdm(
        items,
        desc=desc,
        total=total,
        leave=False,
        dynamic_ncols=True,
        delay=DELAY_S,
        disable=disable,
    )


@contextmanager
def working(desc: str, *, disable: bool = False) -> Iterator[None]:
    """A line with the elapsed time while the enclosed call runs (one opaque step,
    such as scikit-learn's DBSCAN), from ``DELAY_S`` seconds on (stderr)."""
    bar = tqdm(
        total=1,
        desc=desc,
        bar_format="{desc}: {elapsed}",
        delay=DELAY_S,
        leave=False,
        disable=disable,
    )
    done, shown = threading.Event(), threading.Event()

    tick = max(_TICK_S, getattr(bar, "mininterval", 0.0))  # a disabled bar has none

    def redraw() -> None:
        if not done.wait(DELAY_S):
            shown.set()
            while not done.wait(tick):
                bar.refresh()

    ticker = threading.Thread(target=redraw, daemon=True)
    if not disable:
        ticker.start()
    try:
        yield
    finally:
        done.set()
        if not disable:
            ticker.join()
        if shown.is_set():
            bar.clear()  # tqdm's close skips a bar that only ``refresh`` drew
        bar.close()
