"""DBSCAN / HDBSCAN pseudo labels on constructed data with a known answer."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp
from sklearn.cluster import DBSCAN

from pipeline.clustering import (
    apply_outlier_policy,
    canonical_labels,
    cluster,
    compute_jaccard_distance,
    compute_sparse_jaccard_distance,
)


def euclidean(points: np.ndarray) -> np.ndarray:
    points = np.asarray(points, dtype=np.float64).reshape(len(points), -1)
    return np.sqrt(((points[:, None] - points[None]) ** 2).sum(-1))


def blobs_with_outliers() -> tuple[np.ndarray, np.ndarray]:
    """Three tight 2-D blobs of 5, interleaved, plus two far outliers."""
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    offsets = np.array([[0, 0], [0.1, 0], [0, 0.1], [-0.1, 0], [0, -0.1]])
    order = [2, 0, 2, 1, 0, 1, 2, 0, 1, 2, 0, 1, 2, 0, 1]  # blob of each sample
    counters = [0, 0, 0]
    points = []
    for b in order:
        points.append(centres[b] + offsets[counters[b]])
        counters[b] += 1
    points += [[50.0, 50.0], [-50.0, 20.0]]
    truth = np.array(order + [-1, -1])
    return np.array(points), truth


def test_dbscan_finds_the_blobs_numbered_by_first_occurrence():
    points, truth = blobs_with_outliers()
    labels = cluster(euclidean(points), "dbscan", eps=0.5, min_samples=3)
    # blob 2 appears first -> 0, blob 0 -> 1, blob 1 -> 2; outliers dropped.
    expected = np.array([{2: 0, 0: 1, 1: 2, -1: -1}[t] for t in truth])
    np.testing.assert_array_equal(labels, expected)
    assert labels.dtype == np.int64


def test_singleton_policy_numbers_outliers_after_the_clusters():
    points, _ = blobs_with_outliers()
    dropped = cluster(euclidean(points), eps=0.5, min_samples=3)
    kept = cluster(euclidean(points), eps=0.5, min_samples=3, outliers="singleton")
    np.testing.assert_array_equal(kept[:15], dropped[:15])
    np.testing.assert_array_equal(kept[15:], [3, 4])


def test_border_point_joins_its_nearest_core_point():
    # 1-D: A = {-.2, -.15, -.1, .15}, B = {1.0, 1.25, 1.3, 1.35}, border b = 0.6.
    # Within eps 0.5 b sees only A's 0.15 (0.45 away) and B's 1.0 (0.40 away): 3
    # points with itself, so it is not core. scikit-learn expands A first (A is
    # listed first) and hands b to A; the nearest core point is in B.
    x = np.array([-0.2, -0.15, -0.1, 0.15, 1.0, 1.25, 1.3, 1.35, 0.6])
    sklearn_labels = DBSCAN(eps=0.5, min_samples=4, metric="precomputed").fit(euclidean(x)).labels_
    assert sklearn_labels[8] == sklearn_labels[0]  # the order-dependent answer
    labels = cluster(euclidean(x), eps=0.5, min_samples=4)
    np.testing.assert_array_equal(labels, [0, 0, 0, 0, 1, 1, 1, 1, 1])
    near = sp.csr_matrix(np.where(euclidean(x) <= 0.5, euclidean(x), 0))
    labels = cluster(near, eps=0.5, min_samples=4)
    np.testing.assert_array_equal(labels, [0, 0, 0, 0, 1, 1, 1, 1, 1])


def test_duplicates_at_distance_zero_are_neighbours():
    # A sparse graph must keep the zero distances as explicit entries.
    x = np.array([0, 0, 0, 0, 5, 5.1, 5.2, 5.3, 9.0])
    labels = cluster(euclidean(x), eps=0.05, min_samples=4)
    np.testing.assert_array_equal(labels, [0, 0, 0, 0, -1, -1, -1, -1, -1])


def test_sparse_near_pairs_give_the_dense_answer():
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(12, 32))
    x = centres[rng.integers(0, 12, 240)] + 0.6 * rng.normal(size=(240, 32))
    dense = cluster(compute_jaccard_distance(x, k1=10, k2=3), eps=0.55, min_samples=3)
    near = compute_sparse_jaccard_distance(x, k1=10, k2=3, max_distance=0.55)
    np.testing.assert_array_equal(cluster(near, eps=0.55, min_samples=3), dense)
    assert 5 <= dense.max() + 1 <= 20


def test_hdbscan_finds_the_blobs():
    points, truth = blobs_with_outliers()
    labels = cluster(euclidean(points), "hdbscan", min_samples=3)
    expected = np.array([{2: 0, 0: 1, 1: 2, -1: -1}[t] for t in truth])
    np.testing.assert_array_equal(labels, expected)
    with pytest.raises(ValueError, match="dense"):
        cluster(sp.csr_matrix(euclidean(points)), "hdbscan")


def test_canonical_labels_and_policies():
    np.testing.assert_array_equal(canonical_labels([7, 7, -3, 2, 9, 2]), [0, 0, -1, 1, 2, 1])
    np.testing.assert_array_equal(
        apply_outlier_policy([-1, 5, -1, 5, 1], "singleton"), [2, 0, 3, 0, 1]
    )
    np.testing.assert_array_equal(apply_outlier_policy([-1, -1], "singleton"), [0, 1])


def test_bad_inputs_are_named():
    d = euclidean(np.arange(4.0))
    with pytest.raises(ValueError, match="method='kmeans'"):
        cluster(d, "kmeans")
    with pytest.raises(ValueError, match="outliers='keep'"):
        cluster(d, outliers="keep")
    with pytest.raises(ValueError, match="square"):
        cluster(d[:3])
    with pytest.raises(ValueError, match="NaN"):
        cluster(np.where(d > 2, np.nan, d))
    with pytest.raises(ValueError, match="negative"):
        cluster(-d)
    with pytest.raises(ValueError, match="eps"):
        cluster(d, eps=0)
