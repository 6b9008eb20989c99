"""The validation split cut from the training scenes, and its search protocol."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.models.dicl.data import split_validation, training_set_from_records
from pipeline.models.dicl.evaluate import validation_queries


def _records(scene_people: list[list[int]]) -> list[dict]:
    """One record per scene; box k of a scene sits at x = 10 k (pids: -1 = unlabelled)."""
    return [
        {
            "image_id": 100 + n,
            "file_name": f"s{n}.jpg",
            "height": 50,
            "width": 80,
            "annotations": [
                {"bbox": [10.0 * k, 0.0, 8.0, 20.0], "bbox_mode": 1, "person_id": pid}
                for k, pid in enumerate(people)
            ],
        }
        for n, people in enumerate(scene_people)
    ]


SCENES = [[1, 2, -1], [3, -1], [1, 4], [2, 5], [3, 6], [4, 5, 6], [7, -1], [7], [-1]]


def test_held_out_scenes_are_exactly_those_holding_a_drawn_identity():
    records = _records(SCENES)
    split = split_validation(records, 2, seed=0)
    assert split.ids.size == 2 and np.all(np.diff(split.ids) > 0)
    drawn = set(split.ids.tolist())
    assert drawn <= {1, 2, 3, 4, 5, 6, 7}
    for record in split.validation:
        assert drawn & {a["person_id"] for a in record["annotations"]}
    for record in split.train:  # no appearance of a drawn identity is trained on
        assert not drawn & {a["person_id"] for a in record["annotations"]}
    ids = [r["image_id"] for r in split.train] + [r["image_id"] for r in split.validation]
    assert sorted(ids) == [r["image_id"] for r in records]  # a partition, file order kept
    assert [r["image_id"] for r in split.train] == sorted(r["image_id"] for r in split.train)


def test_split_is_fixed_by_the_seed_and_off_at_zero():
    records = _records(SCENES)
    a, b = split_validation(records, 3, seed=5), split_validation(records, 3, seed=5)
    assert a.ids.tolist() == b.ids.tolist() and a.validation == b.validation
    draws = {tuple(split_validation(records, 3, seed=s).ids.tolist()) for s in range(8)}
    assert len(draws) > 1  # the seed matters
    off = split_validation(records, 0, seed=0)
    assert off.train == records and off.validation == [] and off.ids.size == 0


def test_split_errors_name_the_key():
    records = _records(SCENES)
    with pytest.raises(ValueError, match="validation.ids: 8 asked for.*7 labelled"):
        split_validation(records, 8, seed=0)
    with pytest.raises(ValueError, match="leaves no training scene"):
        split_validation(_records([[1], [1, 2], [2]]), 2, seed=0)


def test_training_slots_cover_only_the_training_scenes():
    split = split_validation(_records(SCENES), 2, seed=1)
    ts = training_set_from_records(split.train, "train.json")
    assert ts.num_slots == sum(len(r["annotations"]) for r in split.train)
    assert not set(ts.held_back_ids.tolist()) & set(split.ids.tolist())


def test_every_appearance_is_a_query_with_the_other_held_out_scenes_as_gallery():
    records = _records([[1, 2], [1, -1, 9], [2], [1]])
    query_records, queries = validation_queries(records, np.array([1, 2]))
    # identity 1 appears in scenes 100, 101, 103; identity 2 in 100, 102
    assert [
        (q.image_id, r["query_boxes"][0][0]) for q, r in zip(queries, query_records, strict=True)
    ] == [
        (100, 0.0),
        (100, 10.0),
        (101, 0.0),
        (102, 0.0),
        (103, 0.0),
    ]
    first = queries[0]
    assert list(first.gallery) == [101, 102, 103]
    assert sorted(first.targets) == [101, 103]
    assert first.targets[101].tolist() == [0.0, 0.0, 8.0, 20.0]  # x1 y1 x2 y2
    assert sorted(queries[1].targets) == [102]
    assert sorted(queries[2].targets) == [100, 103]


def _train(tiny_world, out, section) -> list[dict]:
    from pipeline.models.dicl.run import train_from_params
    from pipeline.models.dicl.settings import DiclSettings
    from pipeline.runtime import setup
    from tests.real_config import runtime_settings

    runtime = setup(runtime_settings(threads=1, device="cpu"), 0)
    return train_from_params(
        DiclSettings.model_validate(section),
        "cuhk_sysu",
        runtime=runtime,
        seed=0,
        data_dir=tiny_world,
        path_root=tiny_world.parent,
        model_dir=out / "model",
        plots_dir=out / "plots",
    )


@pytest.mark.slow
def test_validation_is_logged_and_never_changes_training(tiny_world, tiny_section, tmp_path):
    import json

    keys = {"val_det_ap", "val_det_recall", "val_mAP", "val_top1"}
    tiny_section["validation"] = {"ids": 1, "every_epochs": 1}
    every = _train(tiny_world, tmp_path / "every", tiny_section)
    tiny_section["validation"] = {"ids": 1, "every_epochs": 9}
    last = _train(tiny_world, tmp_path / "last", tiny_section)
    assert [keys <= set(row) for row in every] == [True, True]
    assert [keys <= set(row) for row in last] == [False, True]  # the last epoch always
    assert every[-1] == last[-1]
    model = "model/model.pt"
    assert (tmp_path / "every" / model).read_bytes() == (tmp_path / "last" / model).read_bytes()
    config = json.loads((tmp_path / "every/model/config.json").read_text())
    held = set(config["validation"]["image_ids"])
    assert len(config["validation"]["ids"]) == 1 and held
    assert config["validation"]["train_images"] + len(held) == 12  # the tiny world's scenes
    header = (tmp_path / "every/plots/history.csv").read_text().splitlines()[0].split(",")
    assert keys <= set(header)
