"""Cannot-link constraint on pseudo labels: DICL's context rule.

DICL (Wang et al., "Deep Intra-Image Contrastive Learning for Weakly Supervised
One-Step Person Search") clusters person boxes and then applies the fact that
two boxes of one image are two different people: in the official code
(``process_label_with_context`` in ``mmdet/core/label_generators/
dbscan_context.py``), whenever a cluster holds several boxes of one image, the
box whose feature has the largest dot product with the cluster centre (the mean
feature of all its members, taken before any split) keeps the label and each
other one becomes a new singleton instance.

Here, with features given, "closest" is the smallest Euclidean distance to that
mean feature, which for L2-normalised features (DICL's) picks the same box as
the largest dot product. Without features, the box with the smallest mean
distance to the other members of its cluster stays (absent entries of a sparse
matrix count as distance 1, the Jaccard maximum). Ties (always the case for a
cluster of two) keep, with features, the sample whose feature vector is
lexicographically smallest, which does not depend on sample order (DICL keeps
the first box); without features, the lowest sample index. Split-off samples
are returned as outliers (-1); the caller's outlier policy then drops them or
makes them singletons (DICL's choice).
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp

# Distance assumed for pairs a sparse matrix does not store (Jaccard's maximum).
SPARSE_FILL = 1.0


def _spread_from_distance(distance, sample: int, members: np.ndarray) -> float:
    """Mean distance from ``sample`` to the other ``members`` of its cluster."""
    others = members[members != sample]
    if others.size == 0:
        return 0.0
    if sp.issparse(distance):
        row = distance[sample]
        stored = np.isin(row.indices, others)
        total = row.data[stored].sum() + (others.size - stored.sum()) * SPARSE_FILL
        return float(total) / others.size
    return float(np.asarray(distance[sample, others], dtype=np.float64).mean())


def _pick_keeper(rivals: np.ndarray, scores: np.ndarray, features: np.ndarray | None) -> int:
    """The rival with the lowest score; ties (within float noise) by feature, then index."""
    tied = rivals[np.isclose(scores, scores.min(), rtol=1e-9, atol=1e-12)]
    if tied.size > 1 and features is not None:
        # Lexicographically smallest feature row: a choice that ignores sample order.
        tied = tied[np.lexsort(features[tied].T[::-1])]
    return int(tied[0])


def split_cannot_link(
    labels: np.ndarray,
    groups: np.ndarray,
    *,
    features: np.ndarray | None = None,
    distance: np.ndarray | sp.spmatrix | None = None,
) -> np.ndarray:
    """Keep at most one sample per group in every cluster.

    Args:
        labels: (N,) cluster labels, negative = outlier.
        groups: (N,) group of each sample (e.g. image id); any sortable values.
        features: (N, D) features; the kept sample is the closest to the mean
            feature of its cluster.
        distance: (N, N) distances, used when ``features`` is None: the kept
            sample has the smallest mean distance to its cluster.

    Returns:
        (N,) int64 labels; samples split off are -1.
    """
    labels = np.asarray(labels, dtype=np.int64).ravel().copy()
    groups = np.asarray(groups).ravel()
    n = labels.size
    if groups.shape != (n,):
        raise ValueError(f"cannot_link_groups: expected shape ({n},), got {groups.shape}")
    if features is not None:
        features = np.asarray(features, dtype=np.float64)
        if features.ndim != 2 or features.shape[0] != n:
            raise ValueError(f"features: expected shape ({n}, D), got {features.shape}")
    elif distance is None:
        raise ValueError("split_cannot_link: pass features= or distance= to rank the samples")
    _, group_codes = np.unique(groups, return_inverse=True)
    group_codes = group_codes.ravel()

    clustered = np.flatnonzero(labels >= 0)
    # Sort by (cluster, group, index): each run of equal (cluster, group) is one conflict.
    order = clustered[np.lexsort((clustered, group_codes[clustered], labels[clustered]))]
    key_lab, key_grp = labels[order], group_codes[order]
    starts = np.flatnonzero(
        np.r_[True, (key_lab[1:] != key_lab[:-1]) | (key_grp[1:] != key_grp[:-1])]
    )
    lengths = np.diff(np.r_[starts, order.size])
    # Members of every cluster as it was before any split (the centre DICL uses).
    by_label = clustered[np.argsort(labels[clustered], kind="stable")]
    sorted_labels = labels[by_label]
    centres: dict[int, np.ndarray] = {}
    for start, length in zip(starts[lengths > 1], lengths[lengths > 1], strict=True):
        rivals = order[start : start + length]
        label = int(key_lab[start])
        lo, hi = np.searchsorted(sorted_labels, [label, label + 1])
        members = by_label[lo:hi]
        if features is not None:
            if label not in centres:
                centres[label] = features[members].mean(axis=0)
            scores = ((features[rivals] - centres[label]) ** 2).sum(axis=1)
        else:
            scores = np.array([_spread_from_distance(distance, s, members) for s in rivals])
        keeper = _pick_keeper(rivals, scores, features)
        labels[rivals[rivals != keeper]] = -1
    return labels
