"""MATLAB files of the synthetic CUHK-SYSU layout: shapes as loadmat reads them, fixed header."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.io

from pipeline.data.synthetic.matfile import (
    HEADER_BYTES,
    HEADER_TEXT,
    cell_column,
    double,
    save_mat,
    struct_array,
)


def test_structs_cells_and_empty_matrices_round_trip(tmp_path: Path) -> None:
    boxes = struct_array(
        ("idlocate", "ishard"), [(double([1, 2, 3, 4]), double(0.0)), (double([]), double([]))]
    )
    person = struct_array(("idname", "scene"), [("p7", boxes)], (1, 1))
    save_mat(
        tmp_path / "a.mat",
        {"Train": cell_column([person, person]), "pool": cell_column(["s1.jpg"])},
    )
    data = scipy.io.loadmat(tmp_path / "a.mat")
    train = data["Train"]
    assert train.shape == (2, 1) and train.dtype == object
    record = train[0, 0]
    assert record.shape == (1, 1) and record.dtype.names == ("idname", "scene")
    assert str(record[0, 0]["idname"][0]) == "p7"
    scene = record[0, 0]["scene"]
    assert scene.shape == (1, 2)
    np.testing.assert_array_equal(scene[0, 0]["idlocate"], [[1.0, 2.0, 3.0, 4.0]])
    assert scene[0, 0]["idlocate"].dtype == np.float64
    # MATLAB's empty row: 1x0, so ``box[0]`` still indexes.
    assert scene[0, 1]["idlocate"].shape == (1, 0)
    assert data["pool"].shape == (1, 1) and str(data["pool"][0, 0][0]) == "s1.jpg"


def test_header_has_no_creation_time(tmp_path: Path) -> None:
    save_mat(tmp_path / "a.mat", {"x": double([1.0])})
    save_mat(tmp_path / "b.mat", {"x": double([1.0])})
    raw = (tmp_path / "a.mat").read_bytes()
    assert raw == (tmp_path / "b.mat").read_bytes()
    assert raw[:HEADER_BYTES] == HEADER_TEXT.ljust(HEADER_BYTES, b" ")
    assert b"Created on" not in raw
