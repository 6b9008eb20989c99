"""SpCL's reliability criterion (independence and compactness), hand-worked."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.clustering import independence_threshold, reliability_filter, reliable_cluster

# Normal clustering: A = {0,1,2,3}, B = {4,5,6}, C = {7,8}, 9 an outlier.
# Tight: A splits into {0,1}, {2}, and 3 becomes an outlier.
# Loose: B and C merge.
TIGHT = np.array([0, 0, 1, -1, 2, 2, 2, 3, 3, -1])
NORMAL = np.array([0, 0, 0, 0, 1, 1, 1, 2, 2, -1])
LOOSE = np.array([0, 0, 0, 0, 1, 1, 1, 1, 1, -1])


def test_scores_match_the_hand_computation():
    result = reliability_filter(TIGHT, NORMAL, LOOSE)
    # R_comp: 0,1 -> 1 - 2/4; 2,3 -> 1 - 1/4; B and C unchanged -> 0; outlier -> 0.
    np.testing.assert_allclose(result.r_comp, [0.5, 0.5, 0.75, 0.75, 0, 0, 0, 0, 0, 0])
    # R_indep: A unchanged; B -> 1 - 3/5; C -> 1 - 2/5.
    np.testing.assert_allclose(result.r_indep, [0, 0, 0, 0, 0.4, 0.4, 0.4, 0.6, 0.6, 0])
    # Cluster scores [0, 0.4, 0.6]: rank min(2, round(2.7)) = 2 -> 0.6, nobody above it.
    assert result.indep_threshold == pytest.approx(0.6)
    # Only A's largest tight part {0, 1} stays compact.
    np.testing.assert_array_equal(result.labels, [0, 0, -1, -1, 1, 1, 1, 2, 2, -1])
    assert result.num_unreliable == 2


def test_a_given_threshold_dissolves_clusters_that_merge_when_loose():
    result = reliability_filter(TIGHT, NORMAL, LOOSE, indep_threshold=0.5, outliers="singleton")
    # C (0.6 > 0.5) is dissolved; outliers become singletons after the 2 clusters.
    np.testing.assert_array_equal(result.labels, [0, 0, 2, 3, 1, 1, 1, 4, 5, 6])
    assert result.indep_threshold == 0.5 and result.num_unreliable == 4


def test_threshold_rank_follows_spcl():
    assert independence_threshold([]) is None
    assert independence_threshold([0.3]) == 0.3
    # L = 20: rank min(19, 18) -> the second largest.
    assert independence_threshold(np.arange(20) / 20) == pytest.approx(18 / 20)
    # L = 4: rank min(3, round(3.6)) -> the largest.
    assert independence_threshold([0.4, 0.1, 0.3, 0.2]) == pytest.approx(0.4)


def test_reliable_cluster_end_to_end_on_a_line():
    # P = {0, .5, .8, 1.8, 2.3} is one cluster at eps 1.0 but splits at 0.9 into
    # {0, .5, .8} and {1.8, 2.3}; Q = {10, 10.5} and R = {11.55, 12.05} merge at
    # 1.1; 30 is an outlier.
    x = np.array([0, 0.5, 0.8, 1.8, 2.3, 10, 10.5, 11.55, 12.05, 30])
    d = np.abs(x[:, None] - x[None])
    result = reliable_cluster(d, eps=(1.1, 0.9, 1.0), min_samples=2)
    np.testing.assert_array_equal(result.labels, [0, 0, 0, -1, -1, 1, 1, 2, 2, -1])
    assert result.indep_threshold == pytest.approx(0.5)
    strict = reliable_cluster(d, eps=(0.9, 1.0, 1.1), min_samples=2, indep_threshold=0.3)
    np.testing.assert_array_equal(strict.labels, [0, 0, 0, -1, -1, -1, -1, -1, -1, -1])


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="lengths differ"):
        reliability_filter(TIGHT, NORMAL[:5], LOOSE)
    with pytest.raises(ValueError, match="three radii"):
        reliable_cluster(np.zeros((3, 3)), eps=(0.6, 0.7))
