"""The converters read the four synthetic renders with no special case, and what
they find (identities, images, boxes, splits) is what was rendered."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from pipeline.data.converters import CONVERTERS
from pipeline.data.reid_index import read_gallery_trials, read_index


def _convert(layout: str, world, tmp_path: Path) -> Path:
    out = tmp_path / "processed"
    CONVERTERS[layout](world.root, out, world.root.parent)
    return out


def test_market1501_converter_counts(market_world, tmp_path: Path) -> None:
    counts = market_world.counts
    rows = read_index(_convert("market1501", market_world, tmp_path) / "index.csv")
    per_split = Counter(r.split for r in rows)
    # Junk is dropped, distractors stay in the gallery with pid 0.
    assert per_split == {
        "train": counts["train"],
        "query": counts["query"],
        "gallery": counts["gallery"] + counts["distractors"],
    }
    assert len({r.pid for r in rows if r.split == "train"}) == counts["train_ids"]
    assert len({r.pid for r in rows if r.split == "query"}) == counts["test_ids"]
    gallery_pids = Counter(r.pid for r in rows if r.split == "gallery")
    assert gallery_pids[0] == counts["distractors"]
    assert len(gallery_pids) - 1 == counts["test_ids"]
    assert {r.camera for r in rows} <= set(range(1, 7)) and {r.modality for r in rows} == {
        "visible"
    }
    assert all((market_world.root.parent / r.path).is_file() for r in rows)


def test_sysu_mm01_converter_counts(sysu_world, tmp_path: Path) -> None:
    counts = sysu_world.counts
    out = _convert("sysu_mm01", sysu_world, tmp_path)
    rows = read_index(out / "index.csv")
    per_kind = Counter((r.split, r.modality) for r in rows)
    assert per_kind == {
        ("train", "visible"): counts["train_visible"],
        ("train", "infrared"): counts["train_infrared"],
        ("query", "infrared"): counts["test_infrared"],
        ("gallery", "visible"): counts["test_visible"],
    }
    assert (
        len({r.pid for r in rows if r.split == "train"}) == counts["train_ids"] + counts["val_ids"]
    )
    assert len({r.pid for r in rows if r.split == "query"}) == counts["test_ids"]
    assert len({r.pid for r in rows if r.split == "gallery"}) == counts["test_ids"]
    assert {r.camera for r in rows if r.modality == "infrared"} == {3, 6}
    # The world's rand_perm_cam.mat reaches data/processed: one entry per test id and RGB
    # camera that saw it, 10 trials permuting exactly that camera's image numbers.
    trials = read_gallery_trials(out)
    seen = Counter((r.camera, r.pid) for r in rows if r.split == "gallery")
    assert set(trials) == set(seen)
    for key, perms in trials.items():
        assert len(perms) == 10 and all(sorted(p) == list(range(1, seen[key] + 1)) for p in perms)


def test_regdb_converter_counts(regdb_world, tmp_path: Path) -> None:
    counts = regdb_world.counts
    out = _convert("regdb", regdb_world, tmp_path)
    assert counts["splits"] == 10
    # Every image is listed in each split, for training or for testing.
    assert counts["visible"] == counts["train_visible"] + counts["test_visible"]
    assert counts["thermal"] == counts["train_thermal"] + counts["test_thermal"]
    train_ids = []
    for k in range(1, counts["splits"] + 1):
        rows = read_index(out / "splits" / str(k) / "index.csv")
        per_kind = Counter((r.split, r.modality) for r in rows)
        assert per_kind == {
            ("train", "visible"): counts["train_visible"],
            ("train", "infrared"): counts["train_thermal"],
            ("query", "visible"): counts["test_visible"],
            ("gallery", "infrared"): counts["test_thermal"],
        }
        train = {r.pid for r in rows if r.split == "train"}
        test = {r.pid for r in rows if r.split != "train"}
        assert len(train) == counts["train_ids"] and len(test) == counts["test_ids"]
        assert train | test == set(range(1, counts["ids"] + 1))
        assert {(r.camera, r.modality) for r in rows} == {(1, "visible"), (2, "infrared")}
        train_ids.append(frozenset(train))
    # Every test identity of split 1 is searchable across modalities.
    first = read_index(out / "index.csv")
    query = {r.pid for r in first if r.split == "query"}
    assert query == {r.pid for r in first if r.split == "gallery"}
    assert len(query) == counts["test_ids"]
    assert all((regdb_world.root.parent / r.path).is_file() for r in first)
    # Each split draws its own half.
    assert len(set(train_ids)) > 1


def test_cuhk_sysu_converter_counts(cuhk_world, tmp_path: Path) -> None:
    counts = cuhk_world.counts
    out = _convert("cuhk_sysu", cuhk_world, tmp_path)
    train = json.loads((out / "train.json").read_text())
    test = json.loads((out / "test.json").read_text())
    protocol = json.loads((out / "protocol.json").read_text())
    assert len(train["images"]) == counts["train_scenes"]
    assert len(test["images"]) == counts["test_scenes"]
    # Zero-size boxes are dropped; every other box is kept.
    assert len(train["annotations"]) + len(test["annotations"]) == counts["boxes"]
    labelled = {
        "train": [a["person_id"] for a in train["annotations"] if a["person_id"] >= 0],
        "test": [a["person_id"] for a in test["annotations"] if a["person_id"] >= 0],
    }
    assert len(labelled["train"]) == counts["train_labelled_boxes"]
    assert len(labelled["test"]) == counts["test_labelled_boxes"]
    assert len(set(labelled["train"])) == counts["train_ids"]
    assert len(set(labelled["test"])) == counts["test_ids"]
    assert not set(labelled["train"]) & set(labelled["test"])
    assert len(protocol["queries"]) == counts["queries"] == counts["test_ids"]
    assert protocol["gallery_sizes"] == [5, 10]
    test_ids = {im["id"] for im in test["images"]}
    for query in protocol["queries"]:
        assert query["pid"] in labelled["test"]
        for size, gallery in query["gallery"].items():
            assert len(gallery) == int(size) and set(gallery) <= test_ids
            assert query["image_id"] not in gallery
