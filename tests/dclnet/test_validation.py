"""The validation split (``dclnet.validation``): held-out train identities, scored like the test set."""

from __future__ import annotations

import json
import random

import pytest

from pipeline.data.reid_index import IndexRow, read_index
from pipeline.models.dclnet.data import (
    load_train_set,
    load_validation_rows,
    split_validation_ids,
)
from pipeline.models.dclnet.settings import DclnetSettings
from tests.dclnet.dclnet_tiny import TINY_SETTINGS
from tests.real_config import merged


def _rows(tiny_vi):
    return read_index(tiny_vi / "processed" / "index.csv")


def test_split_is_deterministic_disjoint_and_order_free(tiny_vi, tiny_settings):
    rows = _rows(tiny_vi)
    held = split_validation_ids(rows, 2, seed=0)
    assert held == split_validation_ids(rows, 2, seed=0)
    shuffled = list(rows)
    random.Random(1).shuffle(shuffled)
    assert split_validation_ids(shuffled, 2, seed=0) == held  # pids and seed decide, not order
    train_pids = {r.pid for r in rows if r.split == "train"}
    assert len(held) == 2 and set(held) <= train_pids
    # Different seeds draw different sets (6 ids choose 2: 15 sets; 8 seeds cannot all agree).
    assert len({split_validation_ids(rows, 2, seed=s) for s in range(8)}) > 1
    assert split_validation_ids(rows, 0, seed=0) == ()

    index = tiny_vi / "processed" / "index.csv"
    train_set = load_train_set(index, tiny_settings.input, tiny_vi, exclude=held)
    assert set(train_set.pids) == train_pids - set(held)
    assert train_set.num_classes == len(train_pids) - 2
    assert sorted(set(train_set.labels.tolist())) == list(range(train_set.num_classes))
    assert not {r.path for r in train_set.dataset.rows} & {
        r.path for r in rows if r.pid in held or r.split != "train"
    }

    val = load_validation_rows(index, held)
    assert {r.pid for r in val["query"]} == {r.pid for r in val["gallery"]} == set(held)
    assert all(r.split == "train" for r in val["query"] + val["gallery"])  # no test row read
    assert {r.modality for r in val["query"]} == {"infrared"}
    assert {r.camera for r in val["query"]} <= {3, 6}
    assert {r.modality for r in val["gallery"]} == {"visible"}


def test_split_draws_only_identities_with_both_modalities():
    rows = [IndexRow(f"{p}_{m}.jpg", p, 1 if m == "visible" else 3, "train", m)
            for p in range(1, 7) for m in ("visible", "infrared")]  # fmt: skip
    rows += [IndexRow(f"{p}.jpg", p, 1, "train", "visible") for p in (7, 8, 9)]  # no infrared
    rows += [IndexRow(f"t{p}.jpg", p, 3, "query", "infrared") for p in (10, 11)]  # test ids
    for seed in range(10):
        assert set(split_validation_ids(rows, 4, seed)) <= set(range(1, 7))
    assert set(split_validation_ids(rows, 6, 0)) == set(range(1, 7))
    with pytest.raises(ValueError, match=r"dclnet\.validation\.ids: 7 .* 6 train identities"):
        split_validation_ids(rows, 7, 0)


def test_validation_settings_reject_negative_ids():
    with pytest.raises(ValueError, match="ids"):
        DclnetSettings.model_validate(merged(TINY_SETTINGS, {"validation": {"ids": -1}}))
    assert DclnetSettings.model_validate(TINY_SETTINGS).validation.ids == 0  # off by default


@pytest.mark.slow
def test_training_scores_held_out_ids_without_changing_training(tiny_vi):
    from tests.dclnet.test_training import files, train

    base = merged(TINY_SETTINGS, {"validation": {"ids": 2, "seed": 0}})
    every_epoch = DclnetSettings.model_validate(merged(base, {"validation": {"every": 1}}))
    at_end = DclnetSettings.model_validate(base)
    result = train(tiny_vi, every_epoch, out="a")["main"]
    train(tiny_vi, at_end, out="b")
    held = split_validation_ids(_rows(tiny_vi), 2, seed=0)

    rows = result["history"]
    assert all(0.0 <= row["val_all_single_mAP"] <= 1.0 for row in rows)  # every epoch
    validation = result["validation"]
    for prefix in ("val_", "val_init_", "val_hist_"):
        for metric in ("mAP", "rank1", "mINP"):
            assert 0.0 <= validation[f"{prefix}all_single_{metric}"] <= 1.0
    assert result["validation_ids"] == list(held)
    a, b = files(tiny_vi / "a"), files(tiny_vi / "b")
    config = json.loads(a["models/config.json"])
    assert config["units"]["main"] == {
        "model": "model.pt",
        "num_classes": 6 - 2,
        "validation_ids": list(held),
    }
    assert json.loads(a["plots/validation.json"]) == pytest.approx(validation, abs=1e-6)
    # Scoring every epoch leaves the RNG, hence the weights, as scoring once at the end does.
    assert a["models/model.pt"] == b["models/model.pt"]
    assert "val_all_single_mAP" not in train_history_row(b, 0)
    assert "val_all_single_mAP" in train_history_row(b, 1)


def train_history_row(files: dict[str, bytes], epoch: int) -> dict[str, str]:
    lines = files["plots/history.csv"].decode().splitlines()
    header = lines[0].split(",")
    row = dict(zip(header, lines[1 + epoch].split(","), strict=True))
    return {k: v for k, v in row.items() if v != ""}


def test_named_pids_are_held_out_exactly(tiny_vi):
    rows = _rows(tiny_vi)
    assert split_validation_ids(rows, 2, seed=5, named=[4, 2]) == (2, 4)  # the seed plays no part
    with pytest.raises(ValueError, match=r"dclnet\.validation\.pids: \[9\]"):
        split_validation_ids(rows, 2, seed=0, named=[2, 9])  # 9 is a test identity
    with pytest.raises(ValueError, match="pids"):
        DclnetSettings.model_validate(
            merged(TINY_SETTINGS, {"validation": {"ids": 3, "pids": [1, 2]}})
        )
    with pytest.raises(ValueError, match="not all distinct"):
        DclnetSettings.model_validate(
            merged(TINY_SETTINGS, {"validation": {"ids": 2, "pids": [1, 1]}})
        )


def test_listed_pids_wait_for_ids(tiny_vi):
    # The synthetic profile lists its validation ids but trains on them (ids 0), as the
    # SYSU-MM01 protocol trains on train + val; `-S ...validation.ids=40` holds them out.
    off = DclnetSettings.model_validate(
        merged(TINY_SETTINGS, {"validation": {"ids": 0, "pids": [4, 2]}})
    )
    assert off.validation.ids == 0 and off.validation.pids == [4, 2]
