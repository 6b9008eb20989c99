"""Pseudo labels for unsupervised re-id: DBSCAN or HDBSCAN on a precomputed distance.

The recipe of SpCL / Cluster Contrast (DBSCAN, eps 0.6, min_samples 4 on the
k-reciprocal Jaccard distance) and of DICL (the same before every epoch, plus
the context rule that two boxes of one image never share a cluster: see
``cannot_link.py``). HDBSCAN (Campello et al. 2013, the ``hdbscan`` package) is
offered as the density-level-free alternative.

Labels are made deterministic: DBSCAN's border points (reachable from two
clusters) go to the cluster of their nearest core point instead of whichever
cluster scikit-learn expanded first, and cluster ids are renumbered by first
occurrence in sample order (a border point exactly as close to core points of
two clusters joins the lower id: the one order-dependent case). Outliers are
either dropped (label -1) or kept as one singleton cluster each, numbered after
the real clusters, as SpCL/DICL do with ``use_outliers``.

Memory: DBSCAN runs on the graph of pairs within eps, extracted in row blocks
(a dense N x N input is only read). HDBSCAN needs the dense matrix and the
hdbscan package works on float64 copies of it (8.5 GB each at MSMT17's 32,621
samples), so it suits Market-1501-sized sets.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import scipy.sparse as sp

from pipeline.clustering.cannot_link import split_cannot_link
from pipeline.progress import working

Method = Literal["dbscan", "hdbscan"]
OutlierPolicy = Literal["drop", "singleton"]

# Dense cells scanned per block when extracting the pairs within eps (16 MiB of bool).
_GRAPH_BLOCK_CELLS = 1 << 24


def canonical_labels(labels: np.ndarray) -> np.ndarray:
    """Cluster ids renumbered 0, 1, ... by first occurrence; negatives become -1.

    Args:
        labels: (N,) integer labels, negative = outlier.

    Returns:
        (N,) int64 labels.
    """
    labels = np.asarray(labels).ravel()
    out = np.full(labels.shape, -1, dtype=np.int64)
    kept = labels >= 0
    _, first, inverse = np.unique(labels[kept], return_index=True, return_inverse=True)
    rank = np.empty(first.size, dtype=np.int64)
    rank[np.argsort(first, kind="stable")] = np.arange(first.size)
    out[kept] = rank[inverse.ravel()]
    return out


def apply_outlier_policy(labels: np.ndarray, outliers: OutlierPolicy) -> np.ndarray:
    """Canonical labels; under "singleton" each outlier becomes its own cluster.

    Args:
        labels: (N,) integer labels, negative = outlier.
        outliers: "drop" keeps outliers at -1; "singleton" numbers them after the
            real clusters, in sample order.

    Returns:
        (N,) int64 labels.
    """
    if outliers not in ("drop", "singleton"):
        raise ValueError(f"outliers={outliers!r}: must be 'drop' or 'singleton'")
    labels = canonical_labels(labels)
    if outliers == "singleton":
        noise = np.flatnonzero(labels < 0)
        labels[noise] = labels.max(initial=-1) + 1 + np.arange(noise.size)
    return labels


def check_distance(distance: np.ndarray | sp.spmatrix) -> np.ndarray | sp.csr_matrix:
    """A square, finite, non-negative distance matrix (dense, or CSR of near pairs)."""
    if sp.issparse(distance):
        distance = sp.csr_matrix(distance)
        values = distance.data
    else:
        distance = np.asarray(distance)
        values = distance
    if distance.ndim != 2 or distance.shape[0] != distance.shape[1] or distance.shape[0] == 0:
        raise ValueError(
            f"distance: expected a non-empty square matrix, got shape {distance.shape}"
        )
    if values.size:
        low, high = values.min(), values.max()  # one pass each, no N x N temporary
        if not (np.isfinite(low) and np.isfinite(high)):
            raise ValueError("distance: contains NaN or infinite values")
        if low < 0:
            raise ValueError(f"distance: negative entries (min {low})")
    return distance


def radius_graph(distance: np.ndarray | sp.spmatrix, eps: float) -> sp.csr_matrix:
    """The pairs within ``eps`` as a CSR matrix (explicit zeros kept, sorted indices).

    Built in row blocks, so a dense input is scanned once without an N x N
    temporary. scikit-learn's DBSCAN then works on this graph: on a dense
    matrix it would keep a copy of every core sample's row (about the whole
    matrix, twice at its peak).

    Args:
        distance: (N, N) dense or sparse distances (absent sparse entries = far).
        eps: largest distance kept.

    Returns:
        (N, N) CSR in the input's dtype.
    """
    n = distance.shape[0]
    if sp.issparse(distance):
        coo = sp.coo_matrix(distance)
        keep = coo.data <= eps
        rows, cols, vals = coo.row[keep], coo.col[keep], coo.data[keep]
    else:
        step = max(1, _GRAPH_BLOCK_CELLS // n)
        parts = []
        for start in range(0, n, step):
            block = distance[start : start + step]
            r, c = np.nonzero(block <= eps)
            parts.append((r + start, c, block[r, c]))
        rows, cols, vals = (np.concatenate(p) for p in zip(*parts, strict=True))
    # Values keep their dtype: rounding them could move a pair across eps.
    graph = sp.csr_matrix((vals, (rows, cols)), shape=(n, n))
    graph.sum_duplicates()
    graph.sort_indices()
    return graph


def _assign_border_points(graph: sp.csr_matrix, labels: np.ndarray, core: np.ndarray):
    """Each border point joins the cluster of its nearest core point (ties: lower id)."""
    core_labels = canonical_labels(np.where(core, labels, -1))
    # scikit-learn's cluster id -> the canonical id of that cluster's core points.
    to_canonical = np.full(labels.max(initial=-1) + 1, -1, dtype=np.int64)
    to_canonical[labels[core]] = core_labels[core]
    out = core_labels.copy()
    border = np.flatnonzero((labels >= 0) & ~core)
    sub = graph[border].tocoo()
    on_core = core[sub.col]
    r, c, v = sub.row[on_core], sub.col[on_core], sub.data[on_core]
    order = np.lexsort((core_labels[c], v, r))
    r, c = r[order], c[order]
    first = np.r_[True, r[1:] != r[:-1]] if r.size else np.zeros(0, dtype=bool)
    out[border[r[first]]] = core_labels[c[first]]
    # An asymmetric matrix can leave a border row without a core entry: keep sklearn's.
    missing = border[np.setdiff1d(np.arange(border.size), r[first])]
    out[missing] = to_canonical[labels[missing]]
    return canonical_labels(out)


def _dbscan(distance, eps: float, min_samples: int) -> np.ndarray:
    graph = radius_graph(distance, eps)
    # Imported here: scikit-learn takes about 1 s to import, and most stages never call this.
    from sklearn.cluster import DBSCAN

    with working(f"dbscan ({graph.nnz / graph.shape[0]:.0f} pairs a sample)"):
        model = DBSCAN(eps=eps, min_samples=min_samples, metric="precomputed").fit(graph)
    core = np.zeros(distance.shape[0], dtype=bool)
    core[model.core_sample_indices_] = True
    return _assign_border_points(graph, model.labels_.astype(np.int64), core)


def _hdbscan(distance, min_samples: int, min_cluster_size: int) -> np.ndarray:
    import hdbscan  # only this option needs it

    if sp.issparse(distance):
        raise ValueError(
            "distance: HDBSCAN needs a dense matrix (the hdbscan package rejects sparse "
            "graphs with more than one connected component)"
        )
    model = hdbscan.HDBSCAN(
        metric="precomputed", min_samples=min_samples, min_cluster_size=min_cluster_size
    )
    return model.fit_predict(distance.astype(np.float64)).astype(np.int64)


def cluster(
    distance: np.ndarray | sp.spmatrix,
    method: Method = "dbscan",
    eps: float = 0.6,
    min_samples: int = 4,
    *,
    outliers: OutlierPolicy = "drop",
    cannot_link_groups: np.ndarray | None = None,
    features: np.ndarray | None = None,
    min_cluster_size: int | None = None,
) -> np.ndarray:
    """Pseudo labels from a precomputed distance matrix.

    Args:
        distance: (N, N) dense distances, or a sparse matrix holding at least every
            pair within ``eps`` (e.g. ``compute_sparse_jaccard_distance``); DBSCAN
            only. Absent sparse entries count as "farther than eps".
        method: "dbscan" (scikit-learn) or "hdbscan" (the hdbscan package).
        eps: DBSCAN neighbourhood radius (pairs with distance <= eps are
            neighbours); not used by HDBSCAN.
        min_samples: DBSCAN: neighbours (self included) that make a core point;
            HDBSCAN: its ``min_samples``.
        outliers: "drop" (label -1) or "singleton" (each its own cluster, numbered
            after the real clusters).
        cannot_link_groups: optional (N,) group id per sample (e.g. the image of a
            person box); a cluster keeps at most one sample per group, the one
            closest to the cluster centre; the others become outliers.
        features: (N, D) features that define "closest to the centre" for the
            cannot-link rule (DICL); without them the distance matrix is used.
        min_cluster_size: HDBSCAN's smallest cluster (default ``max(2, min_samples)``).

    Returns:
        (N,) int64 labels: clusters 0..C-1 numbered by first occurrence, then
        singletons (policy "singleton") or -1 (policy "drop").
    """
    distance = check_distance(distance)
    if not isinstance(min_samples, (int, np.integer)) or min_samples < 1:
        raise ValueError(f"min_samples={min_samples!r}: must be an integer >= 1")
    if outliers not in ("drop", "singleton"):
        raise ValueError(f"outliers={outliers!r}: must be 'drop' or 'singleton'")
    if method == "dbscan":
        if not eps > 0:
            raise ValueError(f"eps={eps!r}: must be > 0")
        labels = _dbscan(distance, float(eps), int(min_samples))
    elif method == "hdbscan":
        size = max(2, int(min_samples)) if min_cluster_size is None else int(min_cluster_size)
        if size < 2:
            raise ValueError(f"min_cluster_size={min_cluster_size!r}: must be >= 2")
        labels = _hdbscan(distance, int(min_samples), size)
    else:
        raise ValueError(f"method={method!r}: must be 'dbscan' or 'hdbscan'")
    if cannot_link_groups is not None:
        labels = split_cannot_link(
            canonical_labels(labels), cannot_link_groups, features=features, distance=distance
        )
    return apply_outlier_policy(labels, outliers)
