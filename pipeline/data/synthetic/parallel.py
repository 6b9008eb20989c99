"""Rendering the synthetic world's independent units on several processes.

Every image draws from its own seeded stream (``seeding.stream``), so a unit of
work (a scene, or all the tracks of one identity) renders to the same bytes in
any process and in any order. ``ordered_map`` returns the units' results in input
order, so what a renderer accumulates from them (annotations, counts) is the same
as in one process: the number of processes changes the time, never the output.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterable
from typing import TypeVar

from pipeline.progress import progress

Item = TypeVar("Item")
Result = TypeVar("Result")

# Environment override of the process count (1: render in the calling process).
PROCESSES_ENV = "PIPELINE_RENDER_PROCESSES"

# The task of the map in flight: forked workers inherit it, so it may be any
# callable (a closure over the renderer's state), not only a picklable one.
_task: Callable | None = None


def default_processes() -> int:
    """``$PIPELINE_RENDER_PROCESSES`` if set, else the cores this process may use."""
    value = os.environ.get(PROCESSES_ENV)
    if value:
        try:
            count = int(value)
        except ValueError:
            raise ValueError(f"{PROCESSES_ENV}={value!r}: expected a positive integer") from None
        if count < 1:
            raise ValueError(f"{PROCESSES_ENV}={value!r}: expected a positive integer")
        return count
    return len(os.sched_getaffinity(0))


def _call(item):
    return _task(item)


def ordered_map(
    task: Callable[[Item], Result],
    items: Iterable[Item],
    processes: int | None = None,
    desc: str = "render",
) -> list[Result]:
    """``[task(item) for item in items]``, spread over forked worker processes.

    Args:
        task: renders one unit (writing its files) and returns what the caller
            accumulates; it must depend on nothing but its item and state that
            exists before the call (workers are forked, so later changes are unseen).
        items: the units, in the order their results are wanted.
        processes: worker count (None: :func:`default_processes`); 1 runs in this process.
        desc: the progress bar's label (the bar shows when rendering takes a while).

    Returns:
        The results in the order of ``items``. An exception in a unit is re-raised here.
    """
    global _task
    items = list(items)
    count = min(default_processes() if processes is None else processes, len(items))
    if count <= 1 or "fork" not in multiprocessing.get_all_start_methods():
        return [task(item) for item in progress(items, desc=desc)]
    _task = task
    try:
        with multiprocessing.get_context("fork").Pool(count) as pool:
            # Small chunks balance units of uneven cost (scenes of 2 or 6 people).
            results = pool.imap(_call, items, chunksize=max(1, len(items) // (count * 8)))
            return list(progress(results, desc=desc, total=len(items)))
    finally:
        _task = None
