"""Shared fixtures: the real params, and a scratch copy of them to shrink."""

from __future__ import annotations

import copy
import os
from pathlib import Path

# pytest-xdist workers share the cores: their OpenMP threads, and those of every stage process
# a test starts (they inherit the environment), wait passively instead of spinning on
# descheduled threads (stages/__init__.py has the measurements). Set before torch loads.
if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) > 1:
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import pytest  # noqa: E402

from pipeline.params import load_params  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture()
def real_params() -> dict:
    """A deep copy of the repository's params.yaml, for a test to shrink."""
    return copy.deepcopy(load_params(REPO_ROOT / "params.yaml"))


# The longest modules start first: under pytest-xdist (pyproject's `-n auto --dist loadfile`)
# a module runs whole on one worker, and a long one started last leaves the other workers idle
# at the end. Measured on a 2-core machine: the end-to-end module about 9 minutes beside other
# tests, the kill-and-resume module about 1.5 (alone); every other module under 2.
LONGEST_FIRST = ("tests/e2e/test_end_to_end.py", "tests/reliability/test_kill_resume.py")


def _start_order(item: pytest.Item) -> int:
    path = item.nodeid.split("::", 1)[0]
    if path in LONGEST_FIRST:
        return LONGEST_FIRST.index(path)
    return len(LONGEST_FIRST) + (0 if item.get_closest_marker("slow") else 1)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    # A stable sort keeps each module's tests together and in their own order.
    items.sort(key=_start_order)
