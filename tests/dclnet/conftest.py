"""Fixtures of the DCLNet tests: a tiny visible-infrared dataset and tiny settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.models.dclnet.settings import DclnetSettings
from tests.dclnet.dclnet_tiny import TINY_SETTINGS, write_tiny_vi_dataset


@pytest.fixture()
def tiny_vi(tmp_path: Path) -> Path:
    """Root folder of a tiny processed visible-infrared dataset (index at processed/index.csv)."""
    write_tiny_vi_dataset(tmp_path)
    return tmp_path


@pytest.fixture()
def tiny_settings() -> DclnetSettings:
    return DclnetSettings.model_validate(TINY_SETTINGS)


@pytest.fixture(autouse=True)
def one_thread():
    """One intra-op thread: on a shared 2-core machine more threads only spin."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
