"""Fixtures for the DICL tests: a tiny world on disk and a shrunken configuration."""

from __future__ import annotations

import copy
from pathlib import Path

import pytest

from pipeline.models.dicl.settings import DiclSettings
from tests.dicl.tiny_world import write_tiny_world
from tests.real_config import track_section

# The paper's method at toy size: the real section (conf/dicl, CUHK-SYSU option)
# with every loss and mechanism on, sizes shrunk, no pretrained weights.
TINY_CHANGES = {
    "dataset": "tiny_cuhk",
    "model": {
        "backbone": {"depth": 18, "width": 16, "norm": "BN", "freeze_at": 0, "weights": None},
        "pixel_std": [57.375, 57.12, 58.395],
        "rpn": {
            "anchor_sizes": [32, 64, 128],
            "pre_nms_topk_train": 300,
            "post_nms_topk_train": 60,
            "pre_nms_topk_test": 200,
            "post_nms_topk_test": 30,
            "batch_size_per_image": 64,
        },
        "roi": {"pooler_resolution": [7, 3], "batch_size_per_image": 16, "deform_fc_channels": 16},
        "head": {"conv_dim": 16},
        "crop": {"size": [56, 24]},
    },
    "pseudo_labels": {"k1": 4, "k2": 2},
    "train": {
        "epochs": 2,
        "ims_per_batch": 2,
        "lr": 0.01,
        "lr_steps": [1],
        "warmup_iters": 2,
        "memory_size": 36,  # the tiny world's 12 train scenes x 3 people (checked at load)
        "scales": [[128, 96]],
    },
    "test": {"scale": [128, 96], "gallery_size": 7, "ranked_list_queries": 2},
}
TINY_SECTION = track_section("dicl", changes=TINY_CHANGES)


@pytest.fixture()
def tiny_section() -> dict:
    return copy.deepcopy(TINY_SECTION)


@pytest.fixture()
def tiny_settings() -> DiclSettings:
    return DiclSettings.model_validate(copy.deepcopy(TINY_SECTION))


@pytest.fixture()
def tiny_world(tmp_path: Path) -> Path:
    """``<tmp>/data`` with train.json, test.json, protocol.json; paths relative to tmp."""
    return write_tiny_world(tmp_path / "data", tmp_path)


@pytest.fixture(autouse=True)
def _one_thread():
    """One intra-op thread: the machine is shared, and tiny ops only lose to thread handoffs."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
