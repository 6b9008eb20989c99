"""k-reciprocal encoding and Jaccard distance (Zhong et al., CVPR 2017).

"Re-ranking Person Re-identification with k-reciprocal Encoding". SpCL, Cluster
Contrast and DICL cluster on this distance (k1=30, k2=6, squared Euclidean =
2 - 2cos on L2-normalised features); the evaluation re-ranking uses the same
pieces on a query+gallery distance matrix.

Definitions, as in the paper and its reference code:
- N(p, k): the first k+1 entries of p's ranked list (p itself first, then its
  k nearest neighbours).
- R(p, k) = {g in N(p, k) : p in N(g, k)}, the k-reciprocal set.
- R*(p) = R(p, k1) joined with R(q, round(k1/2)) for every q in R(p, k1) whose
  half set shares more than 2/3 of its members with R(p, k1).
- V[p, g] = exp(-d(p, g)) over g in R*(p), rows normalised to sum 1; local query
  expansion replaces V[p] by the mean of V over the first k2 entries of p's
  ranked list (p included).
- d_J(p, g) = 1 - sum_k min(V[p,k], V[g,k]) / sum_k max(V[p,k], V[g,k]),
  the denominator taken as sum V[p] + sum V[g] - the numerator (= 2 - numerator
  as in the reference code when rows sum to 1; exactly 0 on the diagonal).

Everything is sparse: V has ~|R*| x k2 entries per row, and the Jaccard numerator
is a sparse "product" with min in place of multiply, computed by row blocks so
that memory stays bounded whatever N is. SpCL's faiss code searches only k1
ranks (self included), so its effective N(p, k1) is one shorter than the paper's;
this module follows the paper (pass k1=29 to approximate SpCL's neighbourhood).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import scipy.sparse as sp

from pipeline.clustering.neighbours import (
    KnnRoute,
    as_feature_matrix,
    check_list_length,
    checked_knn_lists,
    concrete_route,
    knn,
    knn_from_distmat,
    l2_normalize,
)
from pipeline.clustering.sparse_jaccard import (
    check_max_distance,
    prepared_v,
    sparse_jaccard_distance,
    sparse_jaccard_distance_torch,
)

__all__ = [
    "compute_jaccard_distance",
    "compute_sparse_jaccard_distance",
    "jaccard_distance",
    "k_reciprocal_encoding",
    "knn",
    "knn_from_distmat",
    "l2_normalize",
    "sparse_jaccard_distance",
]

# Dense float64 cells per Jaccard row block (32 MiB) and min-pairs per block
# (the dense path; ``sparse_jaccard`` never builds N-wide rows).
_BLOCK_CELLS = 1 << 22
_BLOCK_PAIRS = 1 << 22
# Feature values gathered per block when measuring pairs outside the kNN lists (32 MiB).
_GATHER_FLOATS = 1 << 23


def _rank_membership(idx: np.ndarray) -> sp.csr_matrix:
    """Binary (N, N) matrix with a 1 at (i, j) for each j in row i of ``idx``."""
    n, k = idx.shape
    rows = np.repeat(np.arange(n), k)
    m = sp.csr_matrix((np.ones(n * k, dtype=np.float64), (rows, idx.ravel())), shape=(n, n))
    m.data[:] = 1.0  # duplicates in a row (never from knn) count once
    return m


def _reciprocal(idx: np.ndarray) -> sp.csr_matrix:
    forward = _rank_membership(idx)
    recip = forward.multiply(forward.T).tocsr()
    recip.eliminate_zeros()
    recip.sort_indices()
    return recip


def _pair_distances(
    rows: np.ndarray,
    cols: np.ndarray,
    knn_idx: np.ndarray,
    knn_dist: np.ndarray,
    features: np.ndarray | None,
    distmat: np.ndarray | None,
) -> np.ndarray:
    """d(rows[e], cols[e]): from the kNN lists where listed, else from the source."""
    n, k = knn_idx.shape
    list_keys = (np.arange(n, dtype=np.int64)[:, None] * n + knn_idx).ravel()
    order = np.argsort(list_keys, kind="stable")
    sorted_keys = list_keys[order]
    keys = rows.astype(np.int64) * n + cols
    pos = np.minimum(np.searchsorted(sorted_keys, keys), sorted_keys.size - 1)
    found = sorted_keys[pos] == keys
    out = np.empty(keys.size, dtype=np.float64)
    out[found] = knn_dist.ravel()[order[pos[found]]]
    missing = np.flatnonzero(~found)
    if missing.size:
        if distmat is not None:
            out[missing] = distmat[rows[missing], cols[missing]]
        elif features is not None:
            x = as_feature_matrix(features)
            sq = np.einsum("ij,ij->i", x, x)
            step = max(1, _GATHER_FLOATS // x.shape[1])
            for s in range(0, missing.size, step):
                m = missing[s : s + step]
                dots = np.einsum("ij,ij->i", x[rows[m]], x[cols[m]], dtype=np.float64)
                out[m] = np.maximum(sq[rows[m]] + sq[cols[m]] - 2.0 * dots, 0.0)
        else:
            raise ValueError(
                f"k_reciprocal_encoding: {missing.size} expansion pairs lie outside the kNN "
                "lists; pass features= or distmat= to measure them"
            )
    return out


def k_reciprocal_encoding(
    knn_idx: np.ndarray,
    knn_dist: np.ndarray,
    k1: int,
    k2: int,
    *,
    features: np.ndarray | None = None,
    distmat: np.ndarray | None = None,
) -> sp.csr_matrix:
    """The k-reciprocal feature V of every sample, with local query expansion.

    Args:
        knn_idx: (N, K) ranked lists from ``knn``/``knn_from_distmat``, self
            first, K >= max(k1 + 1, k2).
        knn_dist: (N, K) distances matching ``knn_idx``.
        k1: k of the k-reciprocal set (the half set uses round(k1 / 2)).
        k2: entries of the ranked list averaged by query expansion (1 = none).
        features: (N, D) features the lists were built from; measures the
            distance to expansion members that are not in a sample's list.
        distmat: alternatively a dense (N, N) distance matrix for that.

    Returns:
        (N, N) CSR float32, rows summing to 1, sorted indices.
    """
    knn_idx, knn_dist = checked_knn_lists(knn_idx, knn_dist, k1, k2)
    n = knn_idx.shape[0]

    k1_half = int(np.around(k1 / 2.0))  # numpy's half-to-even, as the reference code
    recip = _reciprocal(knn_idx[:, : k1 + 1])
    recip_half = _reciprocal(knn_idx[:, : k1_half + 1])

    # |R(p, k1) ∩ R(q, k1/2)| for every q in R(p, k1): a sparse product on R's pattern.
    shared = (recip @ recip_half.T).multiply(recip).tocsr()
    shared.eliminate_zeros()
    half_sizes = np.diff(recip_half.indptr).astype(np.float64)
    keep = shared.data > (2.0 / 3.0) * half_sizes[shared.indices]
    chosen = sp.csr_matrix((keep.astype(np.float64), shared.indices, shared.indptr), shape=(n, n))
    chosen.eliminate_zeros()
    expanded = (recip + chosen @ recip_half).tocsr()
    expanded.sort_indices()

    rows = np.repeat(np.arange(n), np.diff(expanded.indptr))
    cols = expanded.indices
    d = _pair_distances(rows, cols, knn_idx, knn_dist, features, distmat)
    # exp(-d) normalised per row; shifting by the row minimum keeps exp in range.
    row_min = np.minimum.reduceat(d, expanded.indptr[:-1])
    w = np.exp(-(d - np.repeat(row_min, np.diff(expanded.indptr))))
    w /= np.repeat(np.add.reduceat(w, expanded.indptr[:-1]), np.diff(expanded.indptr))
    v = sp.csr_matrix((w, cols.copy(), expanded.indptr.copy()), shape=(n, n))

    if k2 > 1:
        qe_rows = np.repeat(np.arange(n), k2)
        qe = sp.csr_matrix(
            (np.full(n * k2, 1.0 / k2), (qe_rows, knn_idx[:, :k2].ravel())), shape=(n, n)
        )
        v = (qe @ v).tocsr()
    v = v.astype(np.float32)
    v.eliminate_zeros()
    v.sort_indices()
    return v


def _index_set(sel: np.ndarray | None, n: int, name: str) -> np.ndarray:
    if sel is None:
        return np.arange(n)
    out = np.asarray(sel, dtype=np.int64).ravel()
    if out.size and (out.min() < 0 or out.max() >= n):
        raise ValueError(f"{name}: indices must lie in [0, {n})")
    return out


def _jaccard_blocks(
    v: sp.csr_matrix, rows: np.ndarray | None, cols: np.ndarray | None
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield (first row position, float32 Jaccard block) over the requested rows."""
    v, mass = prepared_v(v)
    n = v.shape[0]
    rows = _index_set(rows, n, "rows")
    cols = _index_set(cols, n, "cols")
    by_feature = v[cols].tocsc()  # column k: the requested samples holding k
    by_feature.sort_indices()
    holders = np.diff(by_feature.indptr)
    v_rows = v[rows]
    # sum_k max(a, b) = sum a + sum b - sum_k min(a, b): exact 0 on the diagonal.
    mass_rows, mass_cols = mass[rows], mass[cols]
    pairs_per_row = np.bincount(
        np.repeat(np.arange(rows.size), np.diff(v_rows.indptr)),
        weights=holders[v_rows.indices],
        minlength=rows.size,
    )
    ncols = cols.size
    max_rows = max(1, _BLOCK_CELLS // max(ncols, 1))
    start = 0
    while start < rows.size:
        # Grow the block until it holds max_rows rows or _BLOCK_PAIRS min-pairs.
        budget = np.cumsum(pairs_per_row[start : start + max_rows])
        stop = start + max(1, int(np.searchsorted(budget, _BLOCK_PAIRS, side="right")))
        block = v_rows[start:stop]
        ent_row = np.repeat(np.arange(stop - start), np.diff(block.indptr))
        first = by_feature.indptr[block.indices]
        count = holders[block.indices]
        ent = np.repeat(np.arange(block.indices.size), count)
        offset = np.arange(ent.size) - np.repeat(np.cumsum(count) - count, count)
        pos = first[ent] + offset
        mins = np.minimum(block.data[ent], by_feature.data[pos])
        flat = ent_row[ent] * ncols + by_feature.indices[pos]
        shared = np.bincount(flat, weights=mins, minlength=(stop - start) * ncols)
        shared = shared.reshape(stop - start, ncols)
        union = mass_rows[start:stop, None] + mass_cols[None, :] - shared
        # Two empty rows share nothing: distance 1.
        dist = 1.0 - np.divide(shared, union, out=np.zeros_like(shared), where=union > 0)
        np.clip(dist, 0.0, 1.0, out=dist)
        yield start, dist.astype(np.float32)
        start = stop


def jaccard_distance(
    v: sp.csr_matrix, rows: np.ndarray | None = None, cols: np.ndarray | None = None
) -> np.ndarray:
    """Jaccard distance between rows of the k-reciprocal features V.

    Args:
        v: (N, N) sparse V from ``k_reciprocal_encoding``.
        rows: sample indices for the result's rows (default all).
        cols: sample indices for the result's columns (default all).

    Returns:
        (len(rows), len(cols)) float32 in [0, 1].
    """
    n = v.shape[0]
    nrows = n if rows is None else np.asarray(rows).size
    ncols = n if cols is None else np.asarray(cols).size
    out = np.empty((nrows, ncols), dtype=np.float32)
    for start, block in _jaccard_blocks(v, rows, cols):
        out[start : start + len(block)] = block
    return out


def _encode(features, k1, k2, use_faiss, chunk_size, route, device):
    x = l2_normalize(features)
    check_list_length(k1 + 1, x.shape[0], "k1 + 1")
    check_list_length(k2, x.shape[0], "k2")
    idx, dist = knn(
        x,
        max(k1 + 1, k2),
        chunk_size=chunk_size,
        use_faiss=use_faiss,
        route=route,
        device=device,
    )
    if route == "torch":  # the encoding too on the route's device (pattern equal, values
        # within a few float32 ulps: torch_encoding's docstring)
        from pipeline.clustering.torch_encoding import k_reciprocal_encoding_torch

        return k_reciprocal_encoding_torch(idx, dist, k1, k2, features=x, device=device)
    return k_reciprocal_encoding(idx, dist, k1, k2, features=x)


def compute_jaccard_distance(
    features: np.ndarray,
    k1: int = 30,
    k2: int = 6,
    *,
    use_faiss: bool = True,
    chunk_size: int = 1024,
    knn_route: KnnRoute = "exact",
    knn_device=None,
) -> np.ndarray:
    """Dense k-reciprocal Jaccard distance of L2-normalised features, for clustering.

    Memory: the (N, N) float32 result (4.3 GB at MSMT17's 32,621 samples) plus
    bounded blocks; ``compute_sparse_jaccard_distance`` keeps only near pairs.

    Args:
        features: (N, D) features; L2-normalised here.
        k1: k-reciprocal neighbourhood size.
        k2: query-expansion size.
        use_faiss: kNN search with faiss (else chunked numpy).
        chunk_size: query rows per kNN block on the numpy path.
        knn_route: "auto", "exact", "torch", "int8" or "ivf" neighbour search (``neighbours.knn``).
        knn_device: the "torch" route's device (None: the first GPU, else the CPU).

    Returns:
        (N, N) float32, symmetric, zero diagonal (up to float rounding).
    """
    knn_route = concrete_route(knn_route, knn_device)
    v = _encode(features, k1, k2, use_faiss, chunk_size, knn_route, knn_device)
    return jaccard_distance(v)


def compute_sparse_jaccard_distance(
    features: np.ndarray,
    k1: int = 30,
    k2: int = 6,
    *,
    max_distance: float,
    use_faiss: bool = True,
    chunk_size: int = 1024,
    knn_route: KnnRoute = "exact",
    knn_device=None,
) -> sp.csr_matrix:
    """Jaccard distances <= ``max_distance`` only, as a CSR matrix.

    Stored entries (explicit zeros included, the diagonal always) are the pairs
    DBSCAN can link at any eps <= ``max_distance``; absent pairs are farther.

    Args:
        features: (N, D) features; L2-normalised here.
        k1: k-reciprocal neighbourhood size.
        k2: query-expansion size.
        max_distance: largest distance kept (e.g. the largest DBSCAN eps).
        use_faiss: kNN search with faiss (else chunked numpy).
        chunk_size: query rows per kNN block on the numpy path.
        knn_route: "auto", "exact", "torch", "int8" or "ivf" neighbour search (``neighbours.knn``);
            "torch" also encodes V (``torch_encoding``) and computes the Jaccard
            distances of that V (the same bits as the CPU's of that V) with torch.
        knn_device: the "torch" route's device (None: the first GPU, else the CPU).

    Returns:
        (N, N) CSR float32 with sorted indices.
    """
    check_max_distance(max_distance)
    knn_route = concrete_route(knn_route, knn_device)
    v = _encode(features, k1, k2, use_faiss, chunk_size, knn_route, knn_device)
    if knn_route == "torch":  # the CPU's matrix of this V, bit for bit, from torch
        return sparse_jaccard_distance_torch(v, max_distance, device=knn_device)
    return sparse_jaccard_distance(v, max_distance)
