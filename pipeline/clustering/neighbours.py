"""k-nearest-neighbour ranked lists, the input of k-reciprocal encoding.

Zhong et al. (CVPR 2017) rank every sample by squared Euclidean distance, the
sample itself first; SpCL / Cluster Contrast / DICL search these lists with
faiss (2 - 2cos on L2-normalised features). Both paths here work in blocks, so
memory stays O(N k) plus one block, and both put each sample at rank 0 even
when duplicates tie with it.

Routes (``clustering.knn`` / ``pseudo_labels.knn``): "exact" (faiss IndexFlatL2,
the default, N^2 d work) and "ivf" (faiss IndexIVFFlat: k-means cells of about
sqrt(N) samples, each query scans its nearest ``IVF_PROBES`` cells; the listed
distances stay exact, the lists can miss neighbours). IVF is deterministic (seeded
k-means, per-query search); faiss's HNSW is not (its threaded build order varies).
"""

from __future__ import annotations

from typing import Literal, get_args

import faiss
import numpy as np

from pipeline.clustering.progress import progress

KnnRoute = Literal["exact", "ivf"]
KNN_ROUTES: tuple[str, ...] = get_args(KnnRoute)

# Query rows per faiss call (for progress), at least. faiss searches with BLAS when a
# call's rows x d reach distance_compute_blas_threshold, in query blocks of
# distance_compute_blas_query_bs rows: chunks that are whole blocks, each past the
# threshold, run the very GEMMs (and bits) of one whole call.
_SEARCH_ROWS = 4 * 4096
# IVF: cells of ~sqrt(N) samples, k-means on <= 64 samples a cell (faiss needs 39),
# queries scan their 16 nearest cells (the share 16 / sqrt(N) of the data).
IVF_PROBES = 16
_IVF_TRAIN_PER_CELL = 64
_IVF_SEED = 1234


def as_feature_matrix(features: np.ndarray) -> np.ndarray:
    """A finite, non-empty (N, D) C-contiguous float32 copy or view of ``features``."""
    x = np.asarray(features)
    if x.ndim != 2 or x.shape[0] == 0 or x.shape[1] == 0:
        raise ValueError(f"features: expected a non-empty (N, D) array, got shape {x.shape}")
    x = np.ascontiguousarray(x, dtype=np.float32)
    if not np.isfinite(x).all():
        raise ValueError("features: contains NaN or infinite values")
    return x


def l2_normalize(features: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (zero rows stay zero), float32."""
    x = as_feature_matrix(features)
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(norms, np.float32(1e-12))


def check_list_length(k: int, n: int, name: str = "k") -> None:
    """Raise unless 1 <= k <= n (a ranked list cannot be longer than N)."""
    if not isinstance(k, (int, np.integer)) or not 1 <= k <= n:
        raise ValueError(f"{name}={k!r}: must be an integer in [1, N={n}]")


def _put_self_first(idx: np.ndarray, dist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Move each sample to rank 0 of its own list (duplicates can outrank it)."""
    n, k = idx.shape
    rows = np.arange(n)
    for i in np.flatnonzero(idx[:, 0] != rows):
        where = np.flatnonzero(idx[i] == i)
        # Shift ranks 0..p-1 one down; when self is absent the last rank falls off.
        p = int(where[0]) if where.size else k - 1
        idx[i, 1 : p + 1] = idx[i, :p].copy()
        dist[i, 1 : p + 1] = dist[i, :p].copy()
        idx[i, 0] = i
    dist[:, 0] = 0.0
    return idx, dist


def _smallest_k(block: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per row: the k smallest entries, sorted by (value, column index)."""
    if k < block.shape[1]:
        cand = np.argpartition(block, k - 1, axis=1)[:, :k]
    else:
        cand = np.broadcast_to(np.arange(block.shape[1]), block.shape).copy()
    vals = np.take_along_axis(block, cand, axis=1)
    order = np.lexsort((cand, vals), axis=1)
    return np.take_along_axis(cand, order, axis=1), np.take_along_axis(vals, order, axis=1)


def _chunks(n: int, d: int) -> list[tuple[int, int]]:
    """Query row ranges whose faiss calls compute as one call over all n rows would."""
    blas_rows = -(-faiss.cvar.distance_compute_blas_threshold // d)
    block = faiss.cvar.distance_compute_blas_query_bs
    step = max(_SEARCH_ROWS, -(-blas_rows // block) * block)
    bounds = list(range(0, n, step)) + [n]
    if len(bounds) > 2 and bounds[-1] - bounds[-2] < blas_rows:
        del bounds[-2]  # a short tail would leave BLAS: it joins the chunk before it
    return list(zip(bounds[:-1], bounds[1:], strict=True))


def _search(index, x: np.ndarray, k: int, desc: str, show: bool):
    """``index.search(x, k)`` in chunks of query rows, with a progress bar."""
    n, d = x.shape
    dist = np.empty((n, k), dtype=np.float32)
    idx = np.empty((n, k), dtype=np.int64)
    for start, stop in progress(_chunks(n, d), desc=desc, disable=not show):
        dist[start:stop], idx[start:stop] = index.search(x[start:stop], k)
    return dist, idx


def _ivf_index(x: np.ndarray):
    n, d = x.shape
    cells = max(1, min(int(round(np.sqrt(n))), n // 39))
    index = faiss.IndexIVFFlat(faiss.IndexFlatL2(d), d, cells)
    index.cp.seed = _IVF_SEED
    index.cp.max_points_per_centroid = _IVF_TRAIN_PER_CELL
    index.cp.min_points_per_centroid = 1  # small N: no warning, k-means still works
    index.train(x)
    index.add(x)
    index.nprobe = min(cells, IVF_PROBES)
    return index


def knn(
    features: np.ndarray,
    k: int,
    *,
    chunk_size: int = 1024,
    use_faiss: bool = True,
    route: KnnRoute = "exact",
    show_progress: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """k nearest neighbours by squared Euclidean distance, each sample first.

    On L2-normalised features the distance equals 2 - 2cos. faiss (IndexFlatL2)
    and the numpy path both compute in blocks, so memory stays O(N k + chunk N).

    Args:
        features: (N, D) array.
        k: list length, self included (k=31 gives self + 30 neighbours).
        chunk_size: query rows per block on the numpy path.
        use_faiss: search with faiss-cpu; False uses chunked numpy (ties ordered
            by index; exact route only).
        route: "exact" or "ivf" (approximate; see the module docstring).
        show_progress: a progress bar on stderr when the search takes a while.

    Returns:
        idx (N, k) int64 with idx[i, 0] == i, and dist (N, k) float32 ascending
        with dist[i, 0] == 0.
    """
    if route not in KNN_ROUTES:
        raise ValueError(f"knn={route!r}: must be one of {', '.join(KNN_ROUTES)}")
    x = as_feature_matrix(features)
    n = x.shape[0]
    check_list_length(k, n)
    if route == "ivf":
        dist, idx = _search(_ivf_index(x), x, int(k), "neighbours (ivf)", show_progress)
        short = np.flatnonzero((idx < 0).any(axis=1))
        if short.size:  # the probed cells held fewer than k samples: search exactly
            flat = faiss.IndexFlatL2(x.shape[1])
            flat.add(x)
            dist[short], idx[short] = flat.search(x[short], int(k))
    elif use_faiss:
        index = faiss.IndexFlatL2(x.shape[1])
        index.add(x)
        dist, idx = _search(index, x, int(k), "neighbours", show_progress)
    else:
        if chunk_size < 1:
            raise ValueError(f"chunk_size={chunk_size}: must be >= 1")
        sq = np.einsum("ij,ij->i", x, x)
        idx = np.empty((n, k), dtype=np.int64)
        dist = np.empty((n, k), dtype=np.float32)
        for start in range(0, n, chunk_size):
            stop = min(start + chunk_size, n)
            block = sq[start:stop, None] + sq[None, :] - 2.0 * (x[start:stop] @ x.T)
            np.maximum(block, 0.0, out=block)
            idx[start:stop], dist[start:stop] = _smallest_k(block, k)
    np.maximum(dist, 0.0, out=dist)
    return _put_self_first(idx, dist.astype(np.float32, copy=False))


def knn_from_distmat(
    dist: np.ndarray, k: int, *, chunk_size: int = 1024
) -> tuple[np.ndarray, np.ndarray]:
    """``knn`` for a precomputed dense (N, N) distance matrix.

    Args:
        dist: (N, N) distances, smaller = closer.
        k: list length, self included.
        chunk_size: rows ranked per block.

    Returns:
        idx (N, k) int64 and dist (N, k) float32, self first, ties by index.
    """
    d = np.asarray(dist)
    if d.ndim != 2 or d.shape[0] != d.shape[1] or d.shape[0] == 0:
        raise ValueError(f"dist: expected a non-empty square (N, N) matrix, got shape {d.shape}")
    n = d.shape[0]
    check_list_length(k, n)
    if chunk_size < 1:
        raise ValueError(f"chunk_size={chunk_size}: must be >= 1")
    idx = np.empty((n, k), dtype=np.int64)
    out = np.empty((n, k), dtype=np.float32)
    for start in range(0, n, chunk_size):
        block = d[start : start + chunk_size]
        if not np.isfinite(block).all():
            raise ValueError(f"dist: rows {start}.. contain NaN or infinite values")
        idx[start : start + len(block)], out[start : start + len(block)] = _smallest_k(block, k)
    return _put_self_first(idx, out)
