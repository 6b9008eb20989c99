"""CUHK-SYSU converter on a hand-built fake of the original layout.

The fake holds every quirk of the real annotations: an image and an identity with
a single record (0-d after ``.squeeze()``), a zero-size box, a duplicated box, a
box with a negative coordinate and one past the image edge, two gallery sizes,
galleries where the query person is absent (empty ``idlocate``), and a top folder
added by the archive. The expected JSON below is worked out by hand.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from pipeline.data.converters import cuhk_sysu
from pipeline.data.converters._mat import records, struct_records
from pipeline.data.errors import DataError
from tests.data.person_search.ps_fakes import (
    struct_array,
    write_cuhk_sysu,
    write_jpeg,
    write_truncated_jpeg,
)

PREFIX = "raw/cuhk_sysu/dataset/Image/SSM"

IMAGES = {
    # name: (width, height, boxes in Images.mat order)
    "s1.jpg": (100, 80, [[10, 10, 20, 40], [0, 0, 0, 10], [50, 5, 30, 60], [70, 10, 20, 40]]),
    "s2.jpg": (120, 90, [[5, 5, 20, 50]]),  # one box: 0-d after squeeze
    "s3.jpg": (100, 80, [[10, 20, 30, 40], [60, 10, 20, 30]]),
    "s4.jpg": (100, 80, [[-5, 10, 25, 40], [40, 10, 30, 60]]),
    "s5.jpg": (100, 80, [[30, 30, 20, 20], [70, 50, 40, 40]]),
    "s6.jpg": (100, 80, [[1, 1, 10, 20], [1, 1, 10, 20]]),  # a duplicated box
}
POOL = ["s3.jpg", "s4.jpg", "s5.jpg", "s6.jpg"]
TRAIN = [
    ("p1", [("s1.jpg", [10, 10, 20, 40]), ("s2.jpg", [5, 5, 20, 50])]),
    ("p2", [("s1.jpg", [50, 5, 30, 60])]),  # one scene: 0-d after squeeze
]
QUERY_A = ("s3.jpg", [10, 20, 30, 40], "p100")
QUERY_B = ("s6.jpg", [1, 1, 10, 20], "p200")
TESTS = {
    50: [
        (QUERY_A, [("s4.jpg", [-5, 10, 25, 40]), ("s5.jpg", None)]),
        (QUERY_B, [("s4.jpg", [40, 10, 30, 60])]),  # one gallery entry
    ],
    100: [
        (QUERY_A, [("s4.jpg", [-5, 10, 25, 40]), ("s5.jpg", None), ("s6.jpg", None)]),
        (QUERY_B, [("s4.jpg", [40, 10, 30, 60]), ("s3.jpg", None)]),
    ],
}


def _ann(ann_id, image_id, bbox, pid):
    w, h = bbox[2], bbox[3]
    return {
        "id": ann_id,
        "image_id": image_id,
        "bbox": [float(v) for v in bbox],
        "area": float(w * h),
        "category_id": 1,
        "iscrowd": 0,
        "person_id": pid,
    }


def _img(image_id, name, width, height):
    return {
        "id": image_id,
        "file_name": f"{PREFIX}/{name}",
        "width": width,
        "height": height,
        "camera": -1,
    }


EXPECTED_TRAIN = {
    "categories": [{"id": 1, "name": "person"}],
    "images": [_img(1, "s1.jpg", 100, 80), _img(2, "s2.jpg", 120, 90)],
    "annotations": [
        _ann(1, 1, [10, 10, 20, 40], 1),
        # [0, 0, 0, 10] has zero width: dropped
        _ann(2, 1, [50, 5, 30, 60], 2),
        _ann(3, 1, [70, 10, 20, 40], -1),
        _ann(4, 2, [5, 5, 20, 50], 1),
    ],
}
EXPECTED_TEST = {
    "categories": [{"id": 1, "name": "person"}],
    "images": [
        _img(3, "s3.jpg", 100, 80),
        _img(4, "s4.jpg", 100, 80),
        _img(5, "s5.jpg", 100, 80),
        _img(6, "s6.jpg", 100, 80),
    ],
    "annotations": [
        _ann(5, 3, [10, 20, 30, 40], 100),
        _ann(6, 3, [60, 10, 20, 30], -1),
        _ann(7, 4, [0, 10, 20, 40], 100),  # x = -5 clipped: w 25 -> 20
        _ann(8, 4, [40, 10, 30, 60], 200),
        _ann(9, 5, [30, 30, 20, 20], -1),
        _ann(10, 5, [70, 50, 30, 30], -1),  # past the 100x80 image: clipped
        _ann(11, 6, [1, 1, 10, 20], 200),  # the first of two equal boxes takes the id
        _ann(12, 6, [1, 1, 10, 20], -1),
    ],
}
EXPECTED_PROTOCOL = {
    "layout": "cuhk_sysu",
    "gallery_sizes": [50, 100],
    "queries": [
        {
            "image": f"{PREFIX}/s3.jpg",
            "image_id": 3,
            "bbox": [10.0, 20.0, 30.0, 40.0],
            "pid": 100,
            "camera": -1,
            "gallery": {"50": [4, 5], "100": [4, 5, 6]},
        },
        {
            "image": f"{PREFIX}/s6.jpg",
            "image_id": 6,
            "bbox": [1.0, 1.0, 10.0, 20.0],
            "pid": 200,
            "camera": -1,
            "gallery": {"50": [4], "100": [4, 3]},
        },
    ],
}


def _fake(tmp_path: Path, **overrides) -> Path:
    raw = tmp_path / "raw" / "cuhk_sysu"
    spec = {"images": IMAGES, "pool": POOL, "train": TRAIN, "tests": TESTS, **overrides}
    write_cuhk_sysu(raw / "dataset", **spec)
    return raw


def _convert(tmp_path: Path, raw: Path, **kwargs) -> Path:
    out = tmp_path / "processed"
    cuhk_sysu.convert(raw, out, tmp_path, **kwargs)
    return out


def _load(path: Path):
    return json.loads(path.read_text())


def test_converts_the_fake_exactly(tmp_path):
    out = _convert(tmp_path, _fake(tmp_path))
    assert sorted(p.name for p in out.iterdir()) == ["protocol.json", "test.json", "train.json"]
    assert _load(out / "train.json") == EXPECTED_TRAIN
    assert _load(out / "test.json") == EXPECTED_TEST
    assert _load(out / "protocol.json") == EXPECTED_PROTOCOL


def test_output_is_byte_identical_on_rerun(tmp_path):
    raw = _fake(tmp_path)
    first = _convert(tmp_path, raw)
    blobs = {p.name: p.read_bytes() for p in first.iterdir()}
    second = tmp_path / "again"
    cuhk_sysu.convert(raw, second, tmp_path)
    assert {p.name: p.read_bytes() for p in second.iterdir()} == blobs
    assert b"\\" not in blobs["test.json"] and str(tmp_path).encode() not in blobs["test.json"]


def test_single_gallery_size_and_verified_images(tmp_path):
    raw = _fake(tmp_path, tests={100: TESTS[100]})
    out = _convert(tmp_path, raw, verify_images=True)
    protocol = _load(out / "protocol.json")
    assert protocol["gallery_sizes"] == [100]
    assert [q["gallery"] for q in protocol["queries"]] == [{"100": [4, 5, 6]}, {"100": [4, 3]}]


def test_any_gallery_size_is_read_in_numeric_order(tmp_path):
    raw = _fake(tmp_path, tests={100: TESTS[100], 7: TESTS[50]})
    protocol = _load(_convert(tmp_path, raw) / "protocol.json")
    assert protocol["gallery_sizes"] == [7, 100]
    assert protocol["queries"][1]["gallery"] == {"7": [4], "100": [4, 3]}


def test_records_flattens_the_zero_d_squeeze():
    one = np.zeros((1, 1), dtype=[("imname", object)])
    one[0, 0]["imname"] = np.array(["s1.jpg"])
    assert one.squeeze().shape == ()  # the quirk: not iterable
    assert records(one.squeeze()).shape == (1,)
    recs = struct_records(one.squeeze(), ["imname"], Path("x.mat"), "Img")
    assert [str(r["imname"][0]) for r in recs] == ["s1.jpg"]


def test_person_id_parses_names():
    assert cuhk_sysu.person_id("p5532", Path("a.mat"), "Train[0]") == 5532
    with pytest.raises(DataError, match=r"a\.mat: Train\[0\]: identity name 'x12'"):
        cuhk_sysu.person_id("x12", Path("a.mat"), "Train[0]")


# ---------------------------------------------------------------- bad inputs


def _ann_dir(raw: Path) -> Path:
    return raw / "dataset" / "annotation"


def test_missing_variable_names_the_file(tmp_path):
    raw = _fake(tmp_path)
    scipy.io.savemat(_ann_dir(raw) / "Images.mat", {"Images": np.zeros((1, 1))})
    with pytest.raises(
        DataError, match=r"Images\.mat: variable 'Img' missing \(the file holds \['Images'\]\)"
    ):
        _convert(tmp_path, raw)


def test_not_a_mat_file_names_the_file(tmp_path):
    raw = _fake(tmp_path)
    (_ann_dir(raw) / "pool.mat").write_bytes(b"not a MATLAB file at all" * 10)
    with pytest.raises(DataError, match=r"pool\.mat: not a readable MATLAB v5 file"):
        _convert(tmp_path, raw)


def test_wrong_box_shape_names_the_file(tmp_path):
    images = {**IMAGES, "s5.jpg": (100, 80, [[30, 30, 20], [70, 50, 40, 40]])}
    raw = _fake(tmp_path, images=images)
    with pytest.raises(
        DataError, match=r"Images\.mat: Img\[4\]\.box\[0\]\.idlocate: expected 4 numbers"
    ):
        _convert(tmp_path, raw)


def test_missing_struct_field_names_the_file(tmp_path):
    raw = _fake(tmp_path)
    path = _ann_dir(raw) / "test" / "train_test" / "TestG50.mat"
    table = scipy.io.loadmat(path)["TestG50"]
    rows = [{"Query": rec["Query"]} for rec in table.reshape(-1)]
    scipy.io.savemat(path, {"TestG50": struct_array(rows, ["Query"])})
    with pytest.raises(
        DataError, match=r"TestG50\.mat: TestG50: struct field\(s\) \['Gallery'\] missing"
    ):
        _convert(tmp_path, raw)


def test_missing_field_in_a_cell_record_names_the_file(tmp_path):
    raw = _fake(tmp_path)
    path = _ann_dir(raw) / "test" / "train_test" / "Train.mat"
    cells = scipy.io.loadmat(path)["Train"]
    cells[1, 0] = struct_array([{"idname": "p2"}], ["idname"])
    scipy.io.savemat(path, {"Train": cells})
    with pytest.raises(
        DataError, match=r"Train\.mat: Train\[1\]: struct field\(s\) \['scene'\] missing"
    ):
        _convert(tmp_path, raw)


def test_unmatched_train_box_names_the_file(tmp_path):
    train = [("p1", [("s1.jpg", [10, 10, 20, 41])])]
    raw = _fake(tmp_path, train=train)
    with pytest.raises(
        DataError,
        match=r"Train\.mat: Train\[0\]\.scene\[0\]: box \[10\.0, 10\.0, 20\.0, 41\.0\] equals no box of s1\.jpg",
    ):
        _convert(tmp_path, raw)


def test_labelled_zero_size_box_is_an_error(tmp_path):
    train = [("p1", [("s1.jpg", [0, 0, 0, 10])])]
    raw = _fake(tmp_path, train=train)
    with pytest.raises(
        DataError, match=r"Train\.mat: .*labelled box \[0\.0, 0\.0, 0\.0, 10\.0\] has zero size"
    ):
        _convert(tmp_path, raw)


def test_conflicting_ids_are_an_error(tmp_path):
    train = [*TRAIN, ("p3", [("s2.jpg", [5, 5, 20, 50])])]
    raw = _fake(tmp_path, train=train)
    with pytest.raises(
        DataError, match=r"Train\.mat: Train\[2\]\.scene\[0\]: .* labelled both p1 and p3"
    ):
        _convert(tmp_path, raw)


def test_train_identity_in_a_test_image_is_an_error(tmp_path):
    train = [("p1", [("s3.jpg", [10, 20, 30, 40])])]
    raw = _fake(tmp_path, train=train)
    with pytest.raises(DataError, match=r"Train\.mat: .*s3\.jpg is a test image"):
        _convert(tmp_path, raw)


def test_gallery_image_outside_the_pool_is_an_error(tmp_path):
    tests = {50: [(QUERY_A, [("s1.jpg", None)])]}
    raw = _fake(tmp_path, tests=tests)
    with pytest.raises(
        DataError, match=r"TestG50\.mat: TestG50\[0\]\.Gallery\[0\]: s1\.jpg is not a test image"
    ):
        _convert(tmp_path, raw)


def test_queries_must_agree_across_gallery_sizes(tmp_path):
    tests = {50: TESTS[50], 100: TESTS[100][:1]}
    raw = _fake(tmp_path, tests=tests)
    with pytest.raises(
        DataError, match=r"TestG100\.mat: its queries differ from those of .*TestG50\.mat"
    ):
        _convert(tmp_path, raw)


def test_no_test_protocol_is_an_error(tmp_path):
    raw = _fake(tmp_path, tests={})
    with pytest.raises(DataError, match=r"train_test: no TestG\{N\}\.mat found"):
        _convert(tmp_path, raw)


def test_missing_pool_names_the_file(tmp_path):
    raw = _fake(tmp_path)
    (_ann_dir(raw) / "pool.mat").unlink()
    with pytest.raises(DataError, match=r"pool\.mat: annotation file not found"):
        _convert(tmp_path, raw)


def test_box_outside_the_image_is_an_error(tmp_path):
    images = {**IMAGES, "s5.jpg": (100, 80, [[30, 30, 20, 20], [120, 50, 40, 40]])}
    raw = _fake(tmp_path, images=images)
    with pytest.raises(
        DataError, match=r"s5\.jpg: Images\.mat box 1 of s5\.jpg: .* lies outside the 100x80 image"
    ):
        _convert(tmp_path, raw)


def test_missing_image_names_the_file(tmp_path):
    raw = _fake(tmp_path)
    (raw / "dataset" / "Image" / "SSM" / "s2.jpg").unlink()
    with pytest.raises(DataError, match=r"SSM/s2\.jpg: image file not found"):
        _convert(tmp_path, raw)


def test_undecodable_image_fails_only_when_verified(tmp_path):
    raw = _fake(tmp_path)
    write_truncated_jpeg(raw / "dataset" / "Image" / "SSM" / "s4.jpg", 100, 80)
    _convert(tmp_path, raw)  # the header is intact: sizes can be read
    with pytest.raises(DataError, match=r"SSM/s4\.jpg: image does not decode"):
        _convert(tmp_path, raw, verify_images=True)


def test_no_layout_found(tmp_path):
    (tmp_path / "raw").mkdir()
    write_jpeg(tmp_path / "raw" / "x.jpg", 8, 8)
    with pytest.raises(DataError, match=r"raw: no CUHK-SYSU layout found"):
        _convert(tmp_path, tmp_path / "raw")
