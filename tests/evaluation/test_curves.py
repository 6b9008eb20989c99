"""CMC / precision-recall rows for dvc plots (pipeline.evaluation.curves)."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from sklearn.metrics import auc, precision_recall_curve

from pipeline.evaluation.curves import cmc_rows, precision_recall_rows, write_curve


def test_cmc_rows_single_and_several():
    assert cmc_rows(np.array([0.5, 0.75])) == [
        {"rank": 1, "cmc": 0.5},
        {"rank": 2, "cmc": 0.75},
    ]
    rows = cmc_rows({"trained": [0.5, 0.9, 1.0], "init": [0.1, 0.2]})
    assert rows == [
        {"rank": 1, "trained": 0.5, "init": 0.1},
        {"rank": 2, "trained": 0.9, "init": 0.2},
    ]
    with pytest.raises(ValueError, match="empty"):
        cmc_rows(np.array([]))


def test_precision_recall_rows_hand_worked():
    rows = precision_recall_rows([True, False, True], [0.9, 0.8, 0.1])
    # Thresholds 0.1 (P 2/3, R 1), 0.8 (P 1/2, R 1/2), 0.9 (P 1, R 1/2), anchor (1, 0).
    assert [(r["recall"], r["precision"]) for r in rows] == [
        (0.0, 1.0),
        (0.5, 1.0),
        (0.5, 0.5),
        (1.0, pytest.approx(2 / 3)),
    ]


def test_precision_recall_rows_thinned_keep_the_ends():
    rng = np.random.default_rng(0)
    y, s = rng.random(5000) < 0.2, rng.random(5000)
    rows = precision_recall_rows(y, s, max_points=50)
    assert len(rows) == 50
    p, r, _ = precision_recall_curve(y, s)
    assert rows[0]["recall"] == 0.0 and rows[-1]["recall"] == pytest.approx(r[0])
    area = auc([row["recall"] for row in rows], [row["precision"] for row in rows])
    assert area == pytest.approx(auc(r, p), abs=0.02)
    with pytest.raises(ValueError, match="no positive"):
        precision_recall_rows([False], [0.3])


def test_write_curve_csv_and_json(tmp_path):
    rows = cmc_rows(np.array([0.25, 1.0]))
    write_curve(tmp_path / "cmc.csv", rows)
    with (tmp_path / "cmc.csv").open() as fh:
        assert list(csv.DictReader(fh)) == [
            {"rank": "1", "cmc": "0.25"},
            {"rank": "2", "cmc": "1"},
        ]
    write_curve(tmp_path / "cmc.json", rows)
    assert json.loads((tmp_path / "cmc.json").read_text()) == rows
    first = (tmp_path / "cmc.json").read_bytes()
    write_curve(tmp_path / "cmc.json", rows)
    assert (tmp_path / "cmc.json").read_bytes() == first
    with pytest.raises(ValueError, match="csv or .json"):
        write_curve(tmp_path / "cmc.txt", rows)
    with pytest.raises(ValueError, match="row 1 has keys"):
        write_curve(tmp_path / "x.csv", [{"a": 1}, {"b": 2}])
