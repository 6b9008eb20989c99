"""Progress bars for pseudo-label rounds: shown only when a step takes a while.

tqdm on stderr with ``delay``, so the small synthetic rounds and the tests print
nothing, while a round over 10^5 samples shows where it is (neighbour search,
Jaccard, DBSCAN). Bars never touch a stage's outputs.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

from tqdm import tqdm

T = TypeVar("T")

# Seconds before a bar appears: shorter steps stay silent.
DELAY_S = 2.0


def progress(items: Iterable[T], *, desc: str, disable: bool = False) -> Iterator[T]:
    """``items`` wrapped in a bar that appears after ``DELAY_S`` seconds (stderr)."""
    yield from tqdm(
        items, desc=desc, leave=False, dynamic_ncols=True, delay=DELAY_S, disable=disable
    )
