"""detectron2 registration of a processed person-search dataset (PRW fake)."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("detectron2")

from detectron2.data import DatasetCatalog, MetadataCatalog  # noqa: E402
from detectron2.structures import BoxMode  # noqa: E402

from pipeline.data.detectron2 import (  # noqa: E402
    load_person_search_dicts,
    register_person_search,
)
from pipeline.data.errors import DataError  # noqa: E402
from tests.data.person_search.test_prw_converter import PREFIX, _convert, _fake  # noqa: E402


@pytest.fixture()
def processed(tmp_path):
    return _convert(tmp_path, _fake(tmp_path))


def test_registers_train_and_test(tmp_path, processed):
    names = register_person_search("fake_prw", processed, path_root=tmp_path)
    try:
        assert names == ["fake_prw_train", "fake_prw_test"]
        train = DatasetCatalog.get("fake_prw_train")
        assert train[0] == {
            "file_name": f"{tmp_path}/{PREFIX}/c1s1_000100.jpg",
            "height": 48,
            "width": 64,
            "image_id": 1,
            "camera": 1,
            "annotations": [
                {
                    "bbox": [10.0, 5.0, 20.0, 30.0],
                    "bbox_mode": BoxMode.XYWH_ABS,
                    "category_id": 0,
                    "person_id": 1,
                    "iscrowd": 0,
                },
                {
                    "bbox": [0.0, 2.0, 6.0, 20.0],
                    "bbox_mode": BoxMode.XYWH_ABS,
                    "category_id": 0,
                    "person_id": -1,
                    "iscrowd": 0,
                },
            ],
        }
        test = DatasetCatalog.get("fake_prw_test")
        assert [d["image_id"] for d in test] == [3, 4, 5]
        assert [len(d["annotations"]) for d in test] == [2, 1, 0]
        assert [d["camera"] for d in test] == [1, 3, 3]
        meta = MetadataCatalog.get("fake_prw_test")
        assert meta.thing_classes == ["person"]
        assert meta.protocol_file == str(processed / "protocol.json")
        assert meta.thing_dataset_id_to_contiguous_id == {1: 0}
        # Registering again replaces the entries instead of failing.
        register_person_search("fake_prw", processed, path_root=tmp_path)
        assert len(DatasetCatalog.get("fake_prw_train")) == 2
    finally:
        for name in ("fake_prw_train", "fake_prw_test"):
            DatasetCatalog.remove(name)
            MetadataCatalog.remove(name)


def test_missing_processed_file_is_named(tmp_path, processed):
    (processed / "protocol.json").unlink()
    with pytest.raises(DataError, match=r"protocol\.json: processed person-search file not found"):
        register_person_search("fake_prw_missing", processed)


def test_annotation_of_unknown_image_is_named(tmp_path):
    path = tmp_path / "bad.json"
    images = [{"id": 1, "file_name": "a.jpg", "width": 4, "height": 4, "camera": 1}]
    ann = {"id": 1, "image_id": 9, "bbox": [0, 0, 1, 1], "category_id": 1, "person_id": -1}
    path.write_text(json.dumps({"images": images, "annotations": [ann]}))
    with pytest.raises(DataError, match=r"bad\.json: annotations\[0\]: unknown image id 9"):
        load_person_search_dicts(path)


def test_missing_key_is_named(tmp_path):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps({"images": [{"id": 1, "file_name": "a.jpg"}], "annotations": []}))
    with pytest.raises(DataError, match=r"bad\.json: images\[0\]: missing key\(s\) \['width'"):
        load_person_search_dicts(path)
