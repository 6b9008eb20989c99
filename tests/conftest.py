"""Shared fixtures: the real params, and a scratch copy of them to shrink."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from pipeline.params import load_params

REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def repo_root() -> Path:
    return REPO_ROOT


@pytest.fixture()
def real_params() -> dict:
    """A deep copy of the repository's params.yaml, for a test to shrink."""
    return copy.deepcopy(load_params(REPO_ROOT / "params.yaml"))
