"""Fixtures of the SCL tests: the tiny dataset, made once per session."""

from __future__ import annotations

from pathlib import Path

import pytest

from .tiny_data import make_dataset


@pytest.fixture(scope="session")
def tiny_dataset(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("scl_data")
    return make_dataset(root)
