"""PRW converter on a hand-built fake of the original layout.

Quirks covered: the three annotation variable names (and their precedence), id -2,
negative coordinates and a box past the frame edge (clipped), a single-row and an
empty annotation, CRLF line ends and a blank line in ``query_info.txt``, cameras
from the frame names. The expected JSON is worked out by hand.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from pipeline.data.converters import prw
from pipeline.data.errors import DataError
from tests.data.person_search.ps_fakes import write_jpeg, write_prw, write_truncated_jpeg

PREFIX = "raw/prw/PRW-v16.04.20/frames"
TRAIN = {"c1s1_000100": (64, 48), "c2s1_000200": (64, 48)}
TEST = {"c3s1_000400": (64, 48), "c1s2_000300": (64, 48), "c3s1_000500": (32, 24)}
ANNOTATIONS = {
    "c1s1_000100": ("box_new", np.array([[1, 10, 5, 20, 30], [-2, -4, 2, 10, 20]], float)),
    "c2s1_000200": ("anno_file", np.array([[2, 0, 0, 10, 10]], float)),
    "c1s2_000300": ("anno_previous", np.array([[1, 5, 5, 10, 20], [-2, 30, 10, 50, 20]], float)),
    "c3s1_000400": ("box_new", np.array([[1, -3, -2, 13, 12]], float)),
    "c3s1_000500": ("box_new", np.zeros((0, 5))),
}
QUERIES = ["1 5 5 10 20 c1s2_000300", "", "1 -3 -2 13 12 c3s1_000400"]


def _img(image_id, frame, width, height, camera):
    return {
        "id": image_id,
        "file_name": f"{PREFIX}/{frame}.jpg",
        "width": width,
        "height": height,
        "camera": camera,
    }


def _ann(ann_id, image_id, bbox, pid):
    return {
        "id": ann_id,
        "image_id": image_id,
        "bbox": [float(v) for v in bbox],
        "area": float(bbox[2] * bbox[3]),
        "category_id": 1,
        "iscrowd": 0,
        "person_id": pid,
    }


EXPECTED_TRAIN = {
    "categories": [{"id": 1, "name": "person"}],
    "images": [_img(1, "c1s1_000100", 64, 48, 1), _img(2, "c2s1_000200", 64, 48, 2)],
    "annotations": [
        _ann(1, 1, [10, 5, 20, 30], 1),
        _ann(2, 1, [0, 2, 6, 20], -1),  # id -2; x = -4 clipped, w 10 -> 6
        _ann(3, 2, [0, 0, 10, 10], 2),
    ],
}
EXPECTED_TEST = {
    "categories": [{"id": 1, "name": "person"}],
    "images": [  # sorted by name, whatever the order in frame_test.mat
        _img(3, "c1s2_000300", 64, 48, 1),
        _img(4, "c3s1_000400", 64, 48, 3),
        _img(5, "c3s1_000500", 32, 24, 3),
    ],
    "annotations": [
        _ann(4, 3, [5, 5, 10, 20], 1),
        _ann(5, 3, [30, 10, 34, 20], -1),  # 30 + 50 > 64: clipped
        _ann(6, 4, [0, 0, 10, 10], 1),  # (-3, -2) clipped
    ],
}
EXPECTED_PROTOCOL = {
    "layout": "prw",
    "gallery_rule": "all_test_frames_but_own",
    "cross_camera_variant": True,
    "queries": [
        {
            "image": f"{PREFIX}/c1s2_000300.jpg",
            "image_id": 3,
            "bbox": [5.0, 5.0, 10.0, 20.0],
            "pid": 1,
            "camera": 1,
            "gallery": "all_test_frames_but_own",
        },
        {
            "image": f"{PREFIX}/c3s1_000400.jpg",
            "image_id": 4,
            "bbox": [0.0, 0.0, 10.0, 10.0],
            "pid": 1,
            "camera": 3,
            "gallery": "all_test_frames_but_own",
        },
    ],
}


def _fake(tmp_path: Path, **overrides) -> Path:
    raw = tmp_path / "raw" / "prw"
    spec = {
        "train": TRAIN,
        "test": TEST,
        "annotations": ANNOTATIONS,
        "query_lines": QUERIES,
        **overrides,
    }
    write_prw(raw / "PRW-v16.04.20", **spec)
    return raw


def _root(raw: Path) -> Path:
    return raw / "PRW-v16.04.20"


def _convert(tmp_path: Path, raw: Path, **kwargs) -> Path:
    out = tmp_path / "processed"
    prw.convert(raw, out, tmp_path, **kwargs)
    return out


def _load(path: Path):
    return json.loads(path.read_text())


def test_converts_the_fake_exactly(tmp_path):
    out = _convert(tmp_path, _fake(tmp_path))
    assert _load(out / "train.json") == EXPECTED_TRAIN
    assert _load(out / "test.json") == EXPECTED_TEST
    assert _load(out / "protocol.json") == EXPECTED_PROTOCOL


def test_lf_line_ends_give_the_same_protocol(tmp_path):
    out = _convert(tmp_path, _fake(tmp_path, line_end="\n"), verify_images=True)
    assert _load(out / "protocol.json") == EXPECTED_PROTOCOL


def test_box_new_takes_precedence(tmp_path):
    raw = _fake(tmp_path)
    path = _root(raw) / "annotations" / "c3s1_000400.jpg.mat"
    scipy.io.savemat(
        path,
        {
            "anno_previous": np.array([[7, 1, 1, 2, 2]], float),
            "box_new": np.array([[1, -3, -2, 13, 12]], float),
        },
    )
    assert _load(_convert(tmp_path, raw) / "test.json") == EXPECTED_TEST


def test_camera_of():
    assert prw.camera_of("c6s2_123456", Path("f")) == 6
    with pytest.raises(DataError, match=r"f: frame name 'x_1' holds no camera"):
        prw.camera_of("x_1", Path("f"))


# ---------------------------------------------------------------- bad inputs


def test_missing_annotation_file_names_it(tmp_path):
    raw = _fake(tmp_path)
    (_root(raw) / "annotations" / "c3s1_000500.jpg.mat").unlink()
    with pytest.raises(DataError, match=r"c3s1_000500\.jpg\.mat: annotation file not found"):
        _convert(tmp_path, raw)


def test_no_known_variable_names_the_file(tmp_path):
    annotations = {**ANNOTATIONS, "c2s1_000200": ("boxes", np.array([[2, 0, 0, 10, 10]], float))}
    raw = _fake(tmp_path, annotations=annotations)
    with pytest.raises(
        DataError,
        match=r"c2s1_000200\.jpg\.mat: variable 'box_new' or 'anno_file' or 'anno_previous' missing",
    ):
        _convert(tmp_path, raw)


def test_wrong_annotation_shape_names_the_file(tmp_path):
    annotations = {**ANNOTATIONS, "c2s1_000200": ("box_new", np.array([[2, 0, 0, 10]], float))}
    raw = _fake(tmp_path, annotations=annotations)
    with pytest.raises(
        DataError, match=r"c2s1_000200\.jpg\.mat: box_new: expected an Nx5 .* shape \(1, 4\)"
    ):
        _convert(tmp_path, raw)


def test_invalid_person_id_names_the_file(tmp_path):
    annotations = {**ANNOTATIONS, "c2s1_000200": ("box_new", np.array([[-3, 0, 0, 10, 10]], float))}
    raw = _fake(tmp_path, annotations=annotations)
    with pytest.raises(DataError, match=r"c2s1_000200\.jpg\.mat: box_new row 0: person id -3"):
        _convert(tmp_path, raw)


def test_box_outside_the_frame_names_the_file(tmp_path):
    table = np.array([[1, 5, 5, 10, 20], [-2, 70, 10, 5, 5]], float)
    annotations = {**ANNOTATIONS, "c1s2_000300": ("box_new", table)}
    raw = _fake(tmp_path, annotations=annotations)
    with pytest.raises(
        DataError, match=r"c1s2_000300\.jpg\.mat: row 1: .* outside the 64x48 image"
    ):
        _convert(tmp_path, raw)


def test_malformed_frame_list_names_the_file(tmp_path):
    raw = _fake(tmp_path)
    scipy.io.savemat(_root(raw) / "frame_test.mat", {"img_index_test": np.ones((2, 1))})
    with pytest.raises(
        DataError, match=r"frame_test\.mat: img_index_test\[0\]: expected a non-empty string"
    ):
        _convert(tmp_path, raw)


def test_malformed_query_line_names_file_and_line(tmp_path):
    raw = _fake(tmp_path, query_lines=["1 5 5 10 20 c1s2_000300", "1 5 5 10 c1s2_000300"])
    with pytest.raises(DataError, match=r"query_info\.txt: line 2: expected 6 fields, found 5"):
        _convert(tmp_path, raw)


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        ("-1 5 5 10 20 c1s2_000300", "person id -1 is negative"),
        ("1.5 5 5 10 20 c1s2_000300", "invalid literal for int"),
        ("1 nan 5 10 20 c1s2_000300", r"box \[nan, 5\.0, 10\.0, 20\.0\] is not finite"),
    ],
)
def test_bad_query_values_name_file_and_line(tmp_path, line, problem):
    raw = _fake(tmp_path, query_lines=["1 5 5 10 20 c1s2_000300", line])
    with pytest.raises(DataError, match=rf"query_info\.txt: line 2: {problem}"):
        _convert(tmp_path, raw)


def test_query_in_a_train_frame_is_an_error(tmp_path):
    raw = _fake(tmp_path, query_lines=["2 0 0 10 10 c2s1_000200"])
    with pytest.raises(
        DataError, match=r"query_info\.txt: query 0: frame c2s1_000200 is not a test frame"
    ):
        _convert(tmp_path, raw)


def test_frame_in_both_splits_is_an_error(tmp_path):
    raw = _fake(tmp_path, test={**TEST, "c1s1_000100": (64, 48)})
    with pytest.raises(DataError, match=r"frame_test\.mat: frames also in frame_train\.mat"):
        _convert(tmp_path, raw)


def test_missing_frame_names_the_file(tmp_path):
    raw = _fake(tmp_path)
    (_root(raw) / "frames" / "c3s1_000500.jpg").unlink()
    with pytest.raises(DataError, match=r"frames/c3s1_000500\.jpg: image file not found"):
        _convert(tmp_path, raw)


def test_unreadable_header_is_always_an_error(tmp_path):
    raw = _fake(tmp_path)
    (_root(raw) / "frames" / "c1s1_000100.jpg").write_bytes(b"\x00" * 64)
    with pytest.raises(DataError, match=r"c1s1_000100\.jpg: cannot read the image header"):
        _convert(tmp_path, raw)


def test_undecodable_frame_fails_only_when_verified(tmp_path):
    raw = _fake(tmp_path)
    write_truncated_jpeg(_root(raw) / "frames" / "c2s1_000200.jpg", 64, 48)
    _convert(tmp_path, raw)
    with pytest.raises(DataError, match=r"c2s1_000200\.jpg: image does not decode"):
        _convert(tmp_path, raw, verify_images=True)


def test_missing_query_file_names_it(tmp_path):
    raw = _fake(tmp_path)
    (_root(raw) / "query_info.txt").unlink()
    with pytest.raises(DataError, match=r"query_info\.txt: query file not found"):
        _convert(tmp_path, raw)


def test_no_layout_found(tmp_path):
    write_jpeg(tmp_path / "raw" / "a" / "b.jpg", 8, 8)
    with pytest.raises(DataError, match=r"no PRW layout found"):
        _convert(tmp_path, tmp_path / "raw")
