"""DICL's context rule: at most one sample per group (image) in a cluster."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.sparse as sp

from pipeline.clustering import cluster, split_cannot_link

# One cluster on a line: x = 0, 1, 0.2, 0.4 (centre 0.4); samples 0, 1 and 3 come
# from image 7, sample 2 from image 8. Samples 4-5 form a second cluster, sample
# 6 is an outlier from image 7.
X = np.array([0.0, 1.0, 0.2, 0.4, 5.0, 5.1, 9.0])
LABELS = np.array([0, 0, 0, 0, 1, 1, -1])
GROUPS = np.array([7, 7, 8, 7, 3, 4, 7])


def test_keeps_the_sample_closest_to_the_centre_by_features():
    # Distances to the centre 0.4: sample 0 -> 0.4, sample 1 -> 0.6, sample 3 -> 0.
    out = split_cannot_link(LABELS, GROUPS, features=X[:, None])
    np.testing.assert_array_equal(out, [-1, -1, 0, 0, 1, 1, -1])


def test_keeps_the_sample_with_the_smallest_mean_distance_without_features():
    # Mean distance to the other members: 0 -> 1.6/3, 1 -> 2.4/3, 3 -> 1.2/3.
    d = np.abs(X[:, None] - X[None])
    np.testing.assert_array_equal(
        split_cannot_link(LABELS, GROUPS, distance=d), [-1, -1, 0, 0, 1, 1, -1]
    )


def test_sparse_distance_counts_absent_pairs_as_one():
    # Only pairs <= 0.5 stored: 0 -> (0.2 + 0.4 + 1) / 3, 1 -> 3 / 3, 3 -> (0.4 + 0.2 + 1) / 3:
    # samples 0 and 3 tie and the lower index stays.
    d = np.abs(X[:, None] - X[None])
    near = sp.csr_matrix(np.where(d <= 0.5, d, 0.0))
    np.testing.assert_array_equal(
        split_cannot_link(LABELS, GROUPS, distance=near), [0, -1, 0, -1, 1, 1, -1]
    )


def test_every_conflict_in_a_cluster_is_resolved_against_the_same_centre():
    labels = np.zeros(6, dtype=np.int64)
    groups = np.array(["a", "b", "a", "b", "a", "c"])
    x = np.array([[0.0], [1.0], [2.0], [3.0], [4.0], [10.0]])  # centre 20/6 = 3.33
    out = split_cannot_link(labels, groups, features=x)
    # group a: 0, 2, 4 -> 4 is closest (0.67); group b: 1, 3 -> 3 (0.33).
    np.testing.assert_array_equal(out, [-1, -1, -1, 0, 0, 0])


def test_cluster_applies_the_rule_and_the_outlier_policy():
    d = np.abs(X[:, None] - X[None])
    labels = cluster(d, eps=0.7, min_samples=2, cannot_link_groups=GROUPS, features=X[:, None])
    np.testing.assert_array_equal(labels, [-1, -1, 0, 0, 1, 1, -1])
    labels = cluster(
        d,
        eps=0.7,
        min_samples=2,
        outliers="singleton",
        cannot_link_groups=GROUPS,
        features=X[:, None],
    )
    np.testing.assert_array_equal(labels, [2, 3, 0, 0, 1, 1, 4])


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="cannot_link_groups"):
        split_cannot_link(LABELS, GROUPS[:3], features=X[:, None])
    with pytest.raises(ValueError, match="features= or distance="):
        split_cannot_link(LABELS, GROUPS)
