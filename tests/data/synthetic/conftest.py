"""Small synthetic worlds rendered once per test session, shared by the test files here."""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import pytest

from pipeline.data.synthetic import render
from tests.real_config import render_params

# Sizes small enough for seconds on a 2-core machine, large enough for stable metrics:
# changes to conf/'s synthetic worlds (tests.real_config.render_params).
MARKET = {
    "seed": 0,
    "num_val_ids": 0,
    "num_train_ids": 4,
    "num_test_ids": 30,
    "num_distractors": 20,
    "num_junk": 10,
}
SYSU = {
    "seed": 0,
    "num_train_ids": 3,
    "num_val_ids": 1,
    "num_test_ids": 20,
    "min_images_per_camera": 4,
    "max_images_per_camera": 6,
}
REGDB = {"seed": 0, "num_ids": 12, "images_per_id": 4}
# Enough test identities (20 per split) for stable retrieval figures.
REGDB_SANITY = {"seed": 0, "num_ids": 40, "images_per_id": 6}
CUHK = {
    "seed": 0,
    "num_train_scenes": 16,
    "num_test_scenes": 12,
    "num_train_ids": 8,
    "num_test_ids": 6,
    "gallery_sizes": [5, 10],
}


class World(NamedTuple):
    root: Path
    counts: dict[str, int]


@pytest.fixture(scope="session")
def market_world(tmp_path_factory: pytest.TempPathFactory) -> World:
    root = tmp_path_factory.mktemp("synthetic") / "market1501"
    return World(root, render("market1501", render_params("market1501", MARKET), root))


@pytest.fixture(scope="session")
def sysu_world(tmp_path_factory: pytest.TempPathFactory) -> World:
    root = tmp_path_factory.mktemp("synthetic") / "sysu_mm01"
    return World(root, render("sysu_mm01", render_params("sysu_mm01", SYSU), root))


@pytest.fixture(scope="session")
def sysu_thermal_world(tmp_path_factory: pytest.TempPathFactory) -> World:
    """The SYSU world with thermal cameras (``infrared_band: thermal``; the default is near)."""
    root = tmp_path_factory.mktemp("synthetic") / "sysu_mm01_thermal"
    return World(
        root,
        render("sysu_mm01", render_params("sysu_mm01", {**SYSU, "infrared_band": "thermal"}), root),
    )


@pytest.fixture(scope="session")
def cuhk_world(tmp_path_factory: pytest.TempPathFactory) -> World:
    root = tmp_path_factory.mktemp("synthetic") / "cuhk_sysu"
    return World(root, render("cuhk_sysu", render_params("cuhk_sysu", CUHK), root))


@pytest.fixture(scope="session")
def regdb_world(tmp_path_factory: pytest.TempPathFactory) -> World:
    """12 identities of 4 visible-thermal pairs; the ten splits are lists only."""
    root = tmp_path_factory.mktemp("synthetic") / "regdb"
    return World(root, render("regdb", render_params("regdb", REGDB), root))


@pytest.fixture(scope="session")
def regdb_sanity_world(tmp_path_factory: pytest.TempPathFactory) -> World:
    """40 identities of 6 visible-thermal pairs: 20 test identities in each split."""
    root = tmp_path_factory.mktemp("synthetic") / "regdb_sanity"
    return World(root, render("regdb", render_params("regdb", REGDB_SANITY), root))
