"""CMC and precision-recall curves as rows that ``dvc plots`` reads.

A curve is a list of flat dicts (one per point) written as CSV or JSON through
:mod:`pipeline.io` (atomic, deterministic). In dvc.yaml, for example::

    plots:
      - plots/scl/cmc.csv: {x: rank, y: cmc}
      - plots/dicl/det_pr.csv: {x: recall, y: precision}

Several models on one CMC plot: pass a mapping ``{"trained": cmc, "init": ...}``
and list the columns as ``y``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from pipeline.io import round_floats, write_csv, write_json

DEFAULT_MAX_POINTS = 200


def cmc_rows(cmc: np.ndarray | Mapping[str, np.ndarray]) -> list[dict[str, Any]]:
    """CMC points ``{"rank": k, "cmc": value}``, k from 1.

    Args:
        cmc: one curve, or name -> curve (one column per name, in the mapping's
            order; curves of unequal length are cut to the shortest).

    Returns:
        One row per rank.
    """
    curves = {"cmc": cmc} if not isinstance(cmc, Mapping) else dict(cmc)
    if not curves:
        raise ValueError("cmc: no curve given")
    arrays = {name: np.asarray(c, dtype=np.float64).ravel() for name, c in curves.items()}
    length = min(a.size for a in arrays.values())
    if length == 0:
        raise ValueError("cmc: empty curve")
    return [
        {"rank": k + 1, **{name: float(a[k]) for name, a in arrays.items()}} for k in range(length)
    ]


def _thin(n: int, max_points: int) -> np.ndarray:
    """At most ``max_points`` evenly spread indices of 0..n-1, both ends kept."""
    if n <= max_points:
        return np.arange(n)
    return np.unique(np.round(np.linspace(0, n - 1, max_points)).astype(np.int64))


def precision_recall_rows(
    y_true: np.ndarray, y_score: np.ndarray, max_points: int = DEFAULT_MAX_POINTS
) -> list[dict[str, float]]:
    """Precision-recall points ``{"recall", "precision", "threshold"}``, recall rising.

    Computed by scikit-learn's ``precision_recall_curve`` (ties in score form one
    point); thinned to ``max_points`` evenly spaced points, first and last kept.
    The final (recall 0, precision 1) anchor has threshold = the top score.

    Raises:
        ValueError: lengths differ, fewer than 2 points allowed, or no positive.
    """
    y_true = np.asarray(y_true).ravel().astype(bool)
    y_score = np.asarray(y_score, dtype=np.float64).ravel()
    if y_true.shape != y_score.shape:
        raise ValueError(f"y_true {y_true.shape} and y_score {y_score.shape}: lengths differ")
    if max_points < 2:
        raise ValueError(f"max_points={max_points}: must be >= 2")
    if not y_true.any():
        raise ValueError("y_true: no positive, the precision-recall curve is undefined")
    # Imported here: scikit-learn takes about 1 s to import, and most stages never call this.
    from sklearn.metrics import precision_recall_curve

    precision, recall, thresholds = precision_recall_curve(y_true, y_score)
    thresholds = np.append(thresholds, thresholds[-1])
    # scikit-learn returns recall falling; plots read better rising.
    precision, recall, thresholds = precision[::-1], recall[::-1], thresholds[::-1]
    keep = _thin(precision.size, max_points)
    return [
        {
            "recall": float(recall[i]),
            "precision": float(precision[i]),
            "threshold": float(thresholds[i]),
        }
        for i in keep
    ]


def write_curve(path: str | Path, rows: Sequence[Mapping[str, Any]]) -> None:
    """Write curve rows to ``.csv`` (header = first row's keys) or ``.json`` (a list).

    Raises:
        ValueError: no rows, rows with different keys, or another suffix.
    """
    path = Path(path)
    if not rows:
        raise ValueError(f"{path}: no rows to write")
    header = list(rows[0].keys())
    for n, row in enumerate(rows):
        if list(row.keys()) != header:
            raise ValueError(f"{path}: row {n} has keys {list(row)}, expected {header}")
    if path.suffix == ".csv":
        write_csv(path, header, ([row[h] for h in header] for row in rows))
    elif path.suffix == ".json":
        write_json(path, round_floats([dict(row) for row in rows]))
    else:
        raise ValueError(f"{path}: expected a .csv or .json file name")
