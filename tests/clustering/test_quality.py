"""Pseudo-label quality on a hand-worked case."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.clustering import label_quality

# Clusters {0,1,2} and {3,4}, sample 5 dropped, sample 6 a singleton.
LABELS = np.array([0, 0, 0, 1, 1, -1, 2])
TRUE_IDS = np.array([5, 5, 6, 7, 7, 7, 8])


def test_counts_without_true_ids():
    q = label_quality(LABELS)
    assert q == {
        "num_samples": 7,
        "num_clusters": 2,
        "num_singletons": 1,
        "num_dropped": 1,
        "outlier_share": pytest.approx(2 / 7),
        "mean_cluster_size": pytest.approx(2.5),
        "max_cluster_size": 3,
    }


def test_agreement_with_true_ids():
    q = label_quality(LABELS, TRUE_IDS)
    # Predicted pairs: 3 + 1; true pairs: 1 (id 5) + 3 (id 7); shared: (0,1), (3,4).
    assert q["pairwise_precision"] == pytest.approx(0.5)
    assert q["pairwise_recall"] == pytest.approx(0.5)
    assert q["pairwise_f1"] == pytest.approx(0.5)
    # ARI: index 2, expected 4 * 4 / 21, max 4 -> (2 - 16/21) / (4 - 16/21) = 13/34.
    assert q["ari"] == pytest.approx(13 / 34)
    # Both partitions have sizes {3, 2, 1, 1}; MI = 6/7 ln(7/3) + 1/7 ln 7.
    entropy = -(3 / 7 * np.log(3 / 7) + 2 / 7 * np.log(2 / 7) + 2 / 7 * np.log(1 / 7))
    mutual = 6 / 7 * np.log(7 / 3) + 1 / 7 * np.log(7)
    assert q["nmi"] == pytest.approx(mutual / entropy)
    assert q["num_true_ids"] == 4


def test_outlier_policies_score_alike_and_unknown_ids_are_ignored():
    singleton = np.array([0, 0, 0, 1, 1, 3, 2])
    a, b = label_quality(LABELS, TRUE_IDS), label_quality(singleton, TRUE_IDS)
    for key in ("nmi", "ari", "pairwise_f1", "outlier_share", "num_clusters"):
        assert a[key] == pytest.approx(b[key])
    # An unknown-id sample that joins cluster 0 changes nothing.
    more = label_quality(np.r_[LABELS, 0], np.r_[TRUE_IDS, -1])
    for key in ("nmi", "ari", "pairwise_precision", "pairwise_recall"):
        assert more[key] == pytest.approx(a[key])
    assert more["num_samples"] == 8


def test_perfect_and_empty_cases():
    q = label_quality([0, 0, 1, 1], [3, 3, 4, 4])
    assert q["nmi"] == pytest.approx(1) and q["ari"] == pytest.approx(1)
    assert q["pairwise_f1"] == pytest.approx(1)
    q = label_quality([-1, -1], [1, 2])
    assert q["num_clusters"] == 0 and q["pairwise_precision"] == 0 and q["outlier_share"] == 1
    with pytest.raises(ValueError, match="empty"):
        label_quality([])
    with pytest.raises(ValueError, match="true_ids"):
        label_quality([0, 1], [0])
