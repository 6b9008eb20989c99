"""Cluster reliability criterion of SpCL (Ge et al., NeurIPS 2020), as DICL runs it.

SpCL ("Self-paced Contrastive Learning with Hybrid Memory") clusters at three
DBSCAN radii eps_tight < eps < eps_loose and keeps only clusters that stay
stable. Read from the official code (SpCL ``examples/spcl_train_*.py`` and
DICL ``label_generators/dbscan_context.py``), per sample i with clusters
C(i) at eps, C_t(i) at eps_tight and C_l(i) at eps_loose (an outlier is a cluster
of its own):

- compactness  R_comp(i)  = 1 - |C(i) ∩ C_t(i)| / |C(i) ∪ C_t(i)|
- independence R_indep(i) = 1 - |C(i) ∩ C_l(i)| / |C(i) ∪ C_l(i)|

(lower = more reliable). Per cluster c both are reduced with ``min`` over its
members. The independence threshold is the 90th percentile of the clusters'
R_indep over clusters of more than one sample,
``sorted(values)[min(L - 1, round(0.9 L))]``; SpCL fixes it in the first round
and reuses it, so it is returned and can be passed back in. A sample stays in
its cluster only if R_indep(c) <= threshold and R_comp(i) <= R_comp(c), i.e. a
cluster that merges with others at the loose radius is dissolved, and only the
members of its largest tight sub-cluster stay. Dissolved samples become
outliers (DICL keeps them as singleton instances; DICL also applies its context
rule to each of the three clusterings before the criterion, as
``reliable_cluster`` does).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from pipeline.clustering.pseudo_labels import (
    OutlierPolicy,
    apply_outlier_policy,
    canonical_labels,
    cluster,
)

INDEP_PERCENTILE = 0.9


@dataclass(frozen=True)
class ReliabilityResult:
    """Labels after the criterion and what decided them.

    Attributes:
        labels: (N,) int64 labels under the chosen outlier policy.
        indep_threshold: the independence threshold used (None when there was
            no cluster of more than one sample to derive it from).
        r_comp: (N,) per-sample compactness score.
        r_indep: (N,) per-sample independence score.
        num_unreliable: clustered samples at eps turned into outliers.
    """

    labels: np.ndarray
    indep_threshold: float | None
    r_comp: np.ndarray
    r_indep: np.ndarray
    num_unreliable: int


def _outliers_as_own_clusters(labels: np.ndarray) -> np.ndarray:
    labels = canonical_labels(labels)
    noise = np.flatnonzero(labels < 0)
    labels[noise] = labels.max(initial=-1) + 1 + np.arange(noise.size)
    return labels


def _one_minus_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per sample: 1 - IoU of its cluster under labelling a and under labelling b."""
    size_a = np.bincount(a)[a]
    size_b = np.bincount(b)[b]
    _, cell, shared = np.unique(a * (b.max() + 1) + b, return_inverse=True, return_counts=True)
    inter = shared[cell.ravel()]
    return 1.0 - inter / (size_a + size_b - inter)


def independence_threshold(cluster_indep: np.ndarray) -> float | None:
    """SpCL's threshold: the value at rank min(L - 1, round(0.9 L)) of the sorted scores.

    Args:
        cluster_indep: R_indep of every cluster with more than one sample.

    Returns:
        The threshold, or None for an empty input.
    """
    values = np.sort(np.asarray(cluster_indep, dtype=np.float64))
    if values.size == 0:
        return None
    return float(values[min(values.size - 1, int(np.round(values.size * INDEP_PERCENTILE)))])


def reliability_filter(
    labels_tight: np.ndarray,
    labels: np.ndarray,
    labels_loose: np.ndarray,
    *,
    indep_threshold: float | None = None,
    outliers: OutlierPolicy = "drop",
) -> ReliabilityResult:
    """Apply the criterion to three clusterings of the same samples.

    Args:
        labels_tight: (N,) labels at the smallest eps (negative = outlier).
        labels: (N,) labels at the middle eps: the ones being filtered.
        labels_loose: (N,) labels at the largest eps.
        indep_threshold: reuse a threshold from an earlier round; None derives it.
        outliers: policy for outliers and dissolved samples ("drop"/"singleton").

    Returns:
        ReliabilityResult.
    """
    arrays = [np.asarray(x).ravel() for x in (labels_tight, labels, labels_loose)]
    if len({a.size for a in arrays}) != 1:
        raise ValueError(
            f"labels_tight/labels/labels_loose: lengths differ {[a.size for a in arrays]}"
        )
    tight, normal, loose = (_outliers_as_own_clusters(a) for a in arrays)
    clustered = canonical_labels(arrays[1]) >= 0
    r_comp = _one_minus_iou(normal, tight)
    r_indep = _one_minus_iou(normal, loose)

    n_clusters = normal.max() + 1
    comp_min = np.full(n_clusters, np.inf)
    indep_min = np.full(n_clusters, np.inf)
    np.minimum.at(comp_min, normal, r_comp)
    np.minimum.at(indep_min, normal, r_indep)
    sizes = np.bincount(normal, minlength=n_clusters)
    if indep_threshold is None:
        multi = np.unique(normal[clustered & (sizes[normal] > 1)])
        indep_threshold = independence_threshold(indep_min[multi])
    unreliable = r_comp > comp_min[normal]
    if indep_threshold is not None:
        unreliable |= indep_min[normal] > indep_threshold
    unreliable &= clustered
    out = np.where(unreliable, -1, canonical_labels(arrays[1]))
    return ReliabilityResult(
        labels=apply_outlier_policy(out, outliers),
        indep_threshold=indep_threshold,
        r_comp=r_comp,
        r_indep=r_indep,
        num_unreliable=int(unreliable.sum()),
    )


def reliable_cluster(
    distance: np.ndarray | sp.spmatrix,
    eps: Sequence[float] = (0.68, 0.70, 0.72),
    min_samples: int = 4,
    *,
    outliers: OutlierPolicy = "drop",
    cannot_link_groups: np.ndarray | None = None,
    features: np.ndarray | None = None,
    indep_threshold: float | None = None,
) -> ReliabilityResult:
    """DBSCAN at three radii, DICL's context rule on each, then the criterion.

    Args:
        distance: (N, N) distances (dense, or sparse with every pair <= max(eps)).
        eps: three DBSCAN radii (sorted here); the middle one gives the labels.
        min_samples: DBSCAN ``min_samples``.
        outliers: "drop" or "singleton" (DICL keeps them as singletons).
        cannot_link_groups: optional (N,) group per sample (see ``cluster``).
        features: features for the cannot-link rule (see ``cluster``).
        indep_threshold: threshold from an earlier round, or None to derive it.

    Returns:
        ReliabilityResult.
    """
    radii = sorted(float(e) for e in eps)
    if len(radii) != 3:
        raise ValueError(f"eps={list(eps)}: the reliability criterion needs exactly three radii")
    runs = [
        cluster(
            distance,
            "dbscan",
            e,
            min_samples,
            outliers="drop",
            cannot_link_groups=cannot_link_groups,
            features=features,
        )
        for e in radii
    ]
    return reliability_filter(*runs, indep_threshold=indep_threshold, outliers=outliers)
